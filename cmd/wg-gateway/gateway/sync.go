package gateway

import (
	"context"
	"net/netip"
	"time"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/peerfeed"
)

// The sync: a feed answer, full or delta, is verified into the peer
// state (handle, handleFull, admit), and the interface is brought to that
// state by the difference alone (apply, configure). A device error makes
// the daemon forget what the interface holds and retry (deviceFailed,
// retryDevice).

// handle verifies a feed answer into the peer state and applies it: a
// full answer, read whole, replaces the state (handleFull, as a full read
// of one page); a delta touches only the keys it names.
func (d *Daemon) handle(ctx context.Context, resp *peerfeed.Response) {
	start := d.now()
	if resp.Full {
		if d.handleFull(ctx, wholeRead(resp, d.signatureRefused)) {
			d.metrics.applySeconds.Observe(d.now().Sub(start).Seconds())
		}
		return
	}
	d.pools = parsePools(resp.AddressPool)
	if d.cfg.KeepUnmanaged {
		d.pinPools(d.pools)
	}
	touched := make(map[wgtypes.Key]bool)
	if len(resp.Removed) > 0 {
		// Reported promptly even when the removed peers were not on
		// the interface: a confirm waits for this index.
		d.removalUnreported = true
	}
	for _, r := range resp.Removed {
		d.peers.remove(r.SerialNumber, touched)
		delete(d.rejected, r.SerialNumber)
	}
	peers, rejections := d.verifier.verifyAnswer(start, resp.Peers, d.pools, newSignedAnswer(resp.Signature, d.signatureRefused))
	d.admit(resp.Peers, peers, rejections, touched)
	d.index = resp.Index
	if d.apply(scopeTouched, touched) {
		d.metrics.applySeconds.Observe(d.now().Sub(start).Seconds())
	}
	d.resyncOnUnknownCA(start, rejections)
}

// unknownCAResync is the least time between two full resyncs asked for by
// certificates of an unknown CA.
const unknownCAResync = 30 * time.Second

// resyncOnUnknownCA asks for a full resync, which refreshes the CAs, when
// a delta held a certificate of an unknown CA: after a CA rotation the
// first certificates of the new CA come that way. At most one such resync
// every unknownCAResync, so that a feed full of strangers costs Vault
// little.
func (d *Daemon) resyncOnUnknownCA(now time.Time, rejections []*Rejection) {
	if d.cfg.CAFile != "" || now.Sub(d.lastCAResync) < unknownCAResync {
		return
	}
	for _, r := range rejections {
		if r != nil && r.Reason == "authority" {
			d.lastCAResync = now
			d.logger.Info("a certificate of an unknown CA; refreshing the CAs with a full resync", "serial", r.Serial)
			d.requestFull()
			return
		}
	}
}

// admit puts verified entries into the peer state and records rejected
// ones, noting the keys they touch.
func (d *Daemon) admit(entries []peerfeed.Peer, peers []Peer, rejections []*Rejection, touched map[wgtypes.Key]bool) {
	for i, e := range entries {
		if rej := rejections[i]; rej != nil {
			d.logger.Warn("not applying peer", "serial", e.SerialNumber, "public_key", e.PublicKey, "reason", rej.Reason, "error", rej.Err)
			d.metrics.rejected.WithLabelValues(rej.Reason).Inc()
			d.rejected[e.SerialNumber] = rej.Reason
			d.peers.remove(e.SerialNumber, touched)
			continue
		}
		delete(d.rejected, e.SerialNumber)
		d.peers.put(peers[i], touched)
	}
}

// An applyScope says how much of the interface an apply compares.
type applyScope int

const (
	// scopeTouched changes only the touched keys (and expired peers),
	// trusting what was applied before.
	scopeTouched applyScope = iota
	// scopeAll compares every peer with what was applied before.
	scopeAll
	// scopeReread reads the interface first, then compares every peer.
	scopeReread
	// scopeFullRead ends a full read whose entries were applied as
	// they came (scopeTouched): it compares the touched keys and the
	// keys on the interface the state has no peer for (with the rule for
	// unmanaged peers), and the firewall whole. That is what scopeAll
	// would change, without building the whole desired interface again
	// at the moment the state is largest.
	scopeFullRead
)

// apply brings the interface to the desired state within scope and
// reports whether it is now up to date. After a failed apply it rereads
// the interface whatever the scope.
func (d *Daemon) apply(scope applyScope, touched map[wgtypes.Key]bool) bool {
	now := d.now()
	if touched == nil {
		touched = make(map[wgtypes.Key]bool)
	}
	for _, p := range d.peers.dropExpired(now, touched) {
		d.removalUnreported = true
		d.metrics.expired.Inc()
		d.logger.Info("certificate expired; removing the peer", "serial", p.Serial, "public_key", p.Key)
	}
	if scope == scopeReread || d.applied == nil {
		if !d.readDevice() {
			return false
		}
		scope = scopeAll
	}
	var changes []wgtypes.PeerConfig
	if scope == scopeAll {
		changes = Diff(d.applied, d.peers.bySerial.Desired(now), d.keepUnmanaged())
	} else {
		var keep func(wgtypes.Key, []netip.Prefix) bool
		if scope == scopeFullRead {
			for key := range d.applied {
				if _, ok := d.peers.byKey[key]; !ok {
					touched[key] = true
				}
			}
			keep = d.keepUnmanaged()
		}
		have, want := make(Interface, len(touched)), make(Interface, len(touched))
		for key := range touched {
			if ips, ok := d.applied[key]; ok {
				have[key] = ips
			}
			if ips := d.peers.desiredFor(key, now); ips != nil {
				want[key] = ips
			}
		}
		changes = Diff(have, want, keep)
	}
	// Fail closed: the rules of peers being added are in place before
	// they are, and the rules of peers being removed go after they do.
	plan, ok := d.planFirewall(scope, now)
	if !ok || !d.tighten(plan) {
		d.deviceFailed()
		return false
	}
	if !d.configure(changes) {
		return false
	}
	if !d.loosen(plan) {
		d.deviceFailed()
		return false
	}
	d.retryBackoff.Reset()
	if d.retryPending {
		d.retry.Stop()
		d.retryPending = false
	}
	d.metrics.peers.Set(float64(len(d.peers.byKey)))
	d.metrics.appliedIndex.Set(float64(d.index))
	d.metrics.lastSync.Set(float64(now.Unix()))
	d.setHealthy(true)
	if !d.reading {
		d.offerStatus(Status{Index: d.index, Peers: len(d.peers.byKey), Rejected: len(d.rejected)}, d.removalUnreported)
		d.removalUnreported = false
	}
	return true
}

// readDevice reads what the interface holds.
func (d *Daemon) readDevice() bool {
	dev, err := d.device.Device(d.cfg.Interface)
	if err != nil {
		d.logger.Error("reading the interface failed", "interface", d.cfg.Interface, "error", err)
		d.deviceFailed()
		return false
	}
	d.applied = FromDevice(dev.Peers)
	return true
}

// configure applies changes to the interface and to what the daemon
// believes it holds; after a failure it believes nothing.
func (d *Daemon) configure(changes []wgtypes.PeerConfig) bool {
	if len(changes) == 0 {
		return true
	}
	if err := d.device.ConfigureDevice(d.cfg.Interface, wgtypes.Config{Peers: changes}); err != nil {
		d.logger.Error("configuring the interface failed", "interface", d.cfg.Interface, "error", err)
		d.deviceFailed()
		return false
	}
	d.applied.Apply(changes)
	d.logChanges(changes)
	return true
}

// deviceFailed forgets what the daemon believes the interface holds and
// arms the retry, unless it is armed already.
func (d *Daemon) deviceFailed() {
	d.applied = nil
	d.setHealthy(false)
	if !d.retryPending {
		d.retryPending = true
		d.retry.Reset(d.retryBackoff.Next())
	}
}

// retryDevice re-reads the interface and brings it to the desired state;
// after another failure the retry is armed again, a little later.
func (d *Daemon) retryDevice() {
	d.retryPending = false
	if d.apply(scopeReread, nil) {
		d.logger.Info("the interface is up to date again after a device error")
	}
}

// keepUnmanaged is the rule for peers the daemon did not put on the
// interface: with -keep-unmanaged, those with no address in the managed
// pools stay.
func (d *Daemon) keepUnmanaged() func(wgtypes.Key, []netip.Prefix) bool {
	if !d.cfg.KeepUnmanaged {
		return nil
	}
	return func(_ wgtypes.Key, ips []netip.Prefix) bool { return !anyInPools(ips, d.managed) }
}

// logChanges logs how many peers an apply added or removed.
func (d *Daemon) logChanges(changes []wgtypes.PeerConfig) {
	removed := 0
	for _, c := range changes {
		if c.Remove {
			removed++
		}
	}
	d.logger.Debug("applied", "index", d.index, "added_or_updated", len(changes)-removed, "removed", removed)
}

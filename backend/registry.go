package backend

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/wgkey"
)

// errKeyInUse is returned by reserve when the public key belongs to a live
// certificate of another identity.
var errKeyInUse = errors.New("key is bound to a live certificate of another identity")

// A registry is the in-memory view of a mount's certificates: the live ones
// by serial, key and identity, each gateway's pools and peer feed, and the
// revoked ones for the CRL. It is rebuilt from the certificate records when
// the mount starts; afterwards every change goes to storage first and then
// here, so the issue path reads no storage.
type registry struct {
	// now is the mount's clock (backend.clock.Now): revisions start at it.
	now func() time.Time

	loadMu  sync.Mutex
	loaded  chan struct{} // closed once the load finished
	loadErr error
	cancel  context.CancelFunc
	// gen counts the loads begun: the pack fold gives up when a load
	// began since it started (the state it decided on is gone).
	gen atomic.Uint64
	// packMu is held by the pack fold from its check of gen until its
	// pack is written, and by a load while it lists the packs: a load
	// either sees the pack or begins before the check, and the fold gives
	// up.
	packMu sync.Mutex

	mu         sync.Mutex
	live       map[string]*liveCert     // by serial
	byIdentity map[string]identityCerts // identity → live certificates, oldest first
	dead       map[string]deadCert      // revoked, or kept until tidy
	gateways   map[string]*gatewayFeed  // by gateway name
	// indexed holds every certificate the registry knows, live or dead,
	// by field value. Queries for live ones use it too and skip the dead:
	// a second index of the live ones cost 400 bytes per certificate.
	indexed certIndexes
	// blocks are the identities refused new certificates (see blocks.go).
	blocks     blockSet
	startIndex uint64 // first revision of every feed since the load
	// packs names the pack (certPackStoragePrefix) holding a copy of each
	// packed certificate's record, by serial. The names are shared: one
	// string a pack.
	packs map[string]string
	// loose holds the serials of committed certificates whose record no
	// pack holds yet, or whose loose entry may be newer than a pack that
	// is not authoritative: the next pack fold's work (takeForPacking).
	loose map[string]struct{}
	// authoritative holds the names of the authoritative packs (see
	// certPack) the registry knows.
	authoritative map[string]struct{}
	// taken holds the serials of the records a pack fold is packing: their
	// revocations go to the journal (writeRevocations), so that the pack,
	// once written, is authoritative.
	taken map[string]struct{}
	// unpacked counts the records committed since the last pack fold
	// began: enough of them start one (maybeFoldPacks).
	unpacked atomic.Int64

	crlCache crlCache

	// buildHook, when set (by tests), runs as a peers answer is built,
	// outside mu.
	buildHook func()
	// loadHold, when set (WithLoadHold), is called as a load starts; what
	// it returns, as the load ends.
	loadHold func() (release func())
}

// liveCert is a certificate that is not revoked.
type liveCert struct {
	rec *certRecord
	// pending is true from reserve until commit: the record is being
	// written and the certificate is not yet in any feed.
	pending bool
	// pos is its place in its identity's list (identityCerts), in the
	// padding after pending.
	pos int32
	// replacedBy is the serial of a certificate being issued, or issued,
	// to replace this one (replaces=): no second may replace it.
	replacedBy string
}

// deadCert is what the CRL, tidy and queries need of a certificate no
// longer live.
type deadCert struct {
	serial *big.Int // parsed once, for the CRL
	// rec is its record without the certificate; its IssuerKeyID is set
	// (certRecord.issuerKeyID), naming the CA whose CRL lists it.
	rec *certRecord
}

func newRegistry(now func() time.Time) *registry {
	r := &registry{now: now}
	r.clear()
	return r
}

// clear empties the registry; the caller holds mu or owns r.
func (r *registry) clear() {
	r.live = make(map[string]*liveCert)
	r.byIdentity = make(map[string]identityCerts)
	r.dead = make(map[string]deadCert)
	r.gateways = make(map[string]*gatewayFeed)
	r.indexed = newCertIndexes()
	r.blocks = newBlockSet()
	r.packs = make(map[string]string)
	r.loose = make(map[string]struct{})
	r.taken = make(map[string]struct{})
	r.authoritative = make(map[string]struct{})
	// Revisions start at the clock in microseconds, so that they keep
	// growing across plugin restarts and leader changes: a gateway's old
	// index is then always behind and gets a full set.
	r.startIndex = uint64(r.now().UnixMicro())
	r.crlCache.dirty = true
}

func (r *registry) addDead(rec *certRecord) {
	n, err := parseSerial(rec.SerialNumber)
	if err != nil {
		return
	}
	info := *rec
	info.IssuerKeyID = rec.issuerKeyID()
	info.Certificate = nil
	r.dead[rec.SerialNumber] = deadCert{serial: n, rec: &info}
	r.indexed.add(info.SerialNumber, indexValues(&info))
}

// addLive indexes a live record; the caller holds mu.
func (r *registry) addLive(rec *certRecord, pending bool) {
	lc := &liveCert{rec: rec, pending: pending}
	r.live[rec.SerialNumber] = lc
	if l, ok := r.byIdentity[rec.Identity]; ok {
		for other := range l.all() {
			shareIdentityValues(rec, other.rec)
			break
		}
	}
	r.addIdentityCert(rec.Identity, lc)
	if old, ok := r.live[rec.Replaces]; ok && rec.Replaces != "" {
		old.replacedBy = rec.SerialNumber
	}
	r.indexed.add(rec.SerialNumber, indexValues(rec))
	if pending {
		r.feed(rec.Gateway).reserved[rec.SerialNumber] = rec
	} else {
		r.feed(rec.Gateway).live[rec.SerialNumber] = rec
	}
}

// removeLive drops a live record from every index of live certificates and
// releases its addresses; the caller holds mu. It stays in r.indexed: drop
// it there too when the registry forgets it.
func (r *registry) removeLive(rec *certRecord) {
	if lc, ok := r.live[rec.SerialNumber]; ok {
		r.removeIdentityCert(rec.Identity, lc)
	}
	delete(r.live, rec.SerialNumber)
	if old, ok := r.live[rec.Replaces]; ok && old.replacedBy == rec.SerialNumber {
		old.replacedBy = "" // its replacement is gone: another may replace it
	}
	f := r.feed(rec.Gateway)
	delete(f.live, rec.SerialNumber)
	delete(f.reserved, rec.SerialNumber)
	f.release(rec, func(a netip.Addr) bool { return r.addressHeld(rec.Gateway, a) })
}

// keyPoint is the index key of a record's public key: the point it stands
// for, so that encodings X25519 treats as one key are one entry.
func keyPoint(publicKey string) (wgtypes.Key, bool) {
	k, err := wgtypes.ParseKey(publicKey)
	if err != nil {
		return wgtypes.Key{}, false
	}
	return wgkey.Point(k), true
}

// eachLiveOfKey calls fn with every live certificate, pending ones
// included, whose key is the point p. They are found in the index of
// every certificate, skipping the dead: a map of the live ones by key cost
// 120 bytes per certificate. The caller holds mu.
func (r *registry) eachLiveOfKey(p wgtypes.Key, fn func(*liveCert)) {
	r.indexed[fieldPublicKey][p.String()].each(func(serial string) {
		if lc, ok := r.live[serial]; ok {
			fn(lc)
		}
	})
}

// addressHeld reports whether a live certificate of gateway, pending ones
// included, holds the address a. The index of every certificate answers,
// skipping the dead and other gateways': a count of holders per address
// cost 130 bytes per certificate. The caller holds mu.
func (r *registry) addressHeld(gateway string, a netip.Addr) bool {
	held := false
	r.indexed[fieldAddress][a.Unmap().String()].each(func(serial string) {
		if lc, ok := r.live[serial]; ok && lc.rec.Gateway == gateway {
			held = true
		}
	})
	return held
}

// feed returns the gateway's feed, creating it; the caller holds mu.
func (r *registry) feed(gateway string) *gatewayFeed {
	f, ok := r.gateways[gateway]
	if !ok {
		f = newGatewayFeed(r.startIndex)
		r.gateways[gateway] = f
	}
	return f
}

// reserve checks that rec's key is free for its identity, allocates its
// addresses from gw's pools and holds them for rec until commit or abort.
// A key belongs to the identity of every live certificate holding it,
// pending ones included, so it stays taken while any of them lives.
//
// rec keeps the addresses of the certificate it replaces (rec.Replaces,
// checked by replaceable), or else of its identity's newest live
// certificate for the same key on gw: that certificate is returned, nil
// when the addresses are new.
func (r *registry) reserve(gw *gatewayEntry, rec *certRecord) (*certRecord, error) {
	p, ok := keyPoint(rec.PublicKey)
	if !ok {
		return nil, fmt.Errorf("record of %s has an unreadable public key", rec.SerialNumber)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.blockedErr(rec); err != nil {
		return nil, err
	}
	var taken bool
	r.eachLiveOfKey(p, func(lc *liveCert) { taken = taken || lc.rec.Identity != rec.Identity })
	if taken {
		return nil, errKeyInUse
	}
	from, err := r.predecessor(gw, rec, p)
	if err != nil {
		return nil, err
	}
	var keep []netip.Addr
	if from != nil {
		keep = from.addrs()
	}
	addrs, err := r.feed(gw.Name).allocate(gw, keep, func(a netip.Addr) bool { return r.addressHeld(gw.Name, a) })
	if err != nil {
		return nil, err
	}
	rec.Addresses = addrs
	r.addLive(rec, true)
	return from, nil
}

// abort undoes a reservation whose record could not be written.
func (r *registry) abort(rec *certRecord) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if lc, ok := r.live[rec.SerialNumber]; ok && lc.pending {
		r.removeLive(rec)
		r.indexed.remove(rec.SerialNumber, indexValues(rec))
	}
}

// evictions returns the serials of the identity's oldest committed
// certificates that must go for the reserved rec to be one of at most
// maxActive (0: no limit). Certificates still being issued by other requests
// are not counted, and rec itself is never among them.
func (r *registry) evictions(rec *certRecord, maxActive int) []string {
	if maxActive <= 0 {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var committed []string
	for lc := range r.byIdentity[rec.Identity].all() {
		// The certificate rec replaces goes anyway: it does not count.
		if s := lc.rec.SerialNumber; s != rec.SerialNumber && s != rec.Replaces && !lc.pending {
			committed = append(committed, s)
		}
	}
	if n := len(committed) + 1 - maxActive; n > 0 {
		return committed[:n]
	}
	return nil
}

// commit publishes a reserved certificate to its gateway's feed, unless a
// block put since its reservation covers it: then it returns a
// *blockedError and rec stays pending, for the caller to revoke. A block
// is put under mu before it selects the certificates to revoke, so every
// certificate of a blocked identity is either among them or refused here.
func (r *registry) commit(rec *certRecord) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	lc, ok := r.live[rec.SerialNumber]
	if !ok {
		return nil
	}
	if err := r.blockedErr(rec); err != nil {
		return err
	}
	lc.pending = false
	r.unpacked.Add(1)
	r.loose[rec.SerialNumber] = struct{}{}
	f := r.feed(rec.Gateway)
	delete(f.reserved, rec.SerialNumber)
	f.live[rec.SerialNumber] = rec
	f.record(rec.SerialNumber, nil)
	return nil
}

// lookup returns the live record of serial, or nil.
func (r *registry) lookup(serial string) *certRecord {
	r.mu.Lock()
	defer r.mu.Unlock()
	if lc, ok := r.live[serial]; ok && !lc.pending {
		return lc.rec
	}
	return nil
}

// serialsForKey returns the serials of every committed live certificate
// holding key, compared as X25519 points.
func (r *registry) serialsForKey(key wgtypes.Key) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	r.eachLiveOfKey(wgkey.Point(key), func(lc *liveCert) {
		if !lc.pending {
			out = append(out, lc.rec.SerialNumber)
		}
	})
	slices.Sort(out)
	return out
}

// markRevoked records that the live certificate rec (already written to
// storage as revoked) left: its addresses return to the pool, its peer
// leaves the feed (if it had joined it) and its serial joins the CRL.
func (r *registry) markRevoked(rec *certRecord) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if lc, ok := r.live[rec.SerialNumber]; ok {
		r.removeLive(lc.rec)
		if !lc.pending {
			r.feed(rec.Gateway).record(rec.SerialNumber, rec)
		}
	}
	r.addDead(rec)
	r.crlCache.dirty = true
}

// forget drops a record that tidy deleted from storage.
func (r *registry) forget(serial string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if lc, ok := r.live[serial]; ok {
		r.removeLive(lc.rec)
		r.indexed.remove(serial, indexValues(lc.rec))
		r.feed(lc.rec.Gateway).record(serial, lc.rec)
	}
	if d, ok := r.dead[serial]; ok {
		r.indexed.remove(serial, indexValues(d.rec))
		delete(r.dead, serial)
	}
	delete(r.packs, serial)
	delete(r.loose, serial)
}

// tidyCandidates returns the serials whose records may be deleted at now:
// those whose certificate expired longer than buffer ago, revoked or not.
// A revoked certificate that has not expired stays, so it stays on the CRL.
func (r *registry) tidyCandidates(now time.Time, buffer time.Duration) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	cutoff := now.Add(-buffer)
	var out []string
	for s, d := range r.dead {
		if d.rec.ExpiresAt.Before(cutoff) {
			out = append(out, s)
		}
	}
	for s, lc := range r.live {
		if !lc.pending && lc.rec.ExpiresAt.Before(cutoff) {
			out = append(out, s)
		}
	}
	return out
}

// markCRLDirty makes the next CRL read rebuild it (after a CA change).
func (r *registry) markCRLDirty() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.crlCache.dirty = true
}

// parseSerial reads a serial that normalizeSerial accepts; once per
// revocation, so it parses the number once and writes nothing.
func parseSerial(s string) (*big.Int, error) {
	h := stripSerial(s)
	n, ok := new(big.Int).SetString(h, 16)
	if len(h) > 64 || !ok || n.Sign() <= 0 {
		return nil, fmt.Errorf("serial %q is not hex", s)
	}
	return n, nil
}

// known reports whether serial names a certificate the registry holds,
// live or revoked.
func (r *registry) known(serial string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, live := r.live[serial]
	_, dead := r.dead[serial]
	return live || dead
}

// liveCount is the number of live certificates of a gateway.
func (r *registry) liveCount(gateway string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if f, ok := r.gateways[gateway]; ok {
		return len(f.live) + len(f.reserved)
	}
	return 0
}

// liveIssuedBy counts the certificates signed by the CA with key id keyID
// that are not revoked and not expired at now, pending ones included. The
// records are read under the lock, their issuers outside it: an older
// record's issuer is parsed from its certificate.
func (r *registry) liveIssuedBy(ctx context.Context, s logical.Storage, keyID string, now time.Time) (int, error) {
	if err := r.wait(ctx, s); err != nil {
		return 0, fmt.Errorf("load certificates: %w", err)
	}
	r.mu.Lock()
	recs := make([]*certRecord, 0, len(r.live))
	for _, lc := range r.live {
		if lc.pending || lc.rec.ExpiresAt.After(now) {
			recs = append(recs, lc.rec)
		}
	}
	r.mu.Unlock()
	n := 0
	for _, rec := range recs {
		if rec.issuerKeyID() == keyID {
			n++
		}
	}
	return n, nil
}

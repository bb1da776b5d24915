package device

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/wgkey"
	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/cmd/internal/backoff"
)

// replacedCert names a certificate a newer one replaced, in the log.
const replacedCert = "replaced certificate"

// retireAttempts is how often a rotation tries to revoke the certificate it
// replaced before leaving it to expire.
const retireAttempts = 5

// A Device obtains certificates from a Source and installs them in Sinks:
// once (Issue) or for as long as it runs, rotating before expiry (Run).
type Device struct {
	Source Source
	Sinks  []Sink
	// RetireReplaced revokes a replaced certificate once its successor is
	// installed. Only safe when a Sink switched the interface itself: a
	// wg-quick file alone is applied by someone else, later.
	RetireReplaced bool
	// SwitchDelay is how long a rotation waits between issuing and
	// installing, for the gateways to add the new key.
	SwitchDelay time.Duration
	// RetryFor bounds how long Issue retries transient failures.
	RetryFor time.Duration
	// Revocations, if set, is read every CRLInterval while Run waits to
	// rotate: a certificate an operator revoked is replaced at once (and a
	// blocked identity's refusal, ErrBlocked, ends Run).
	Revocations RevocationList
	CRLInterval time.Duration
	Backoff     backoff.Backoff
	Logger      hclog.Logger

	// Now, Jitter (in [0, 1)) and Generate default to the clock,
	// math/rand/v2 and wgkey.Generate.
	Now      func() time.Time
	Jitter   func() float64
	Generate func() (private, public wgtypes.Key, err error)
}

func (d *Device) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

func (d *Device) jitter() float64 {
	if d.Jitter != nil {
		return d.Jitter()
	}
	return rand.Float64()
}

func (d *Device) generate() (wgtypes.Key, wgtypes.Key, error) {
	if d.Generate != nil {
		return d.Generate()
	}
	return wgkey.Generate()
}

// Issue obtains one certificate, retrying transient failures for RetryFor,
// and installs it, retiring the certificate it replaces in the Sinks.
// Nothing is asked of Vault unless every Sink is ready (Prepare), and a
// certificate that cannot be installed is revoked.
func (d *Device) Issue(ctx context.Context) (*Grant, error) {
	replaced, err := d.prepare(ctx)
	if err != nil {
		return nil, err
	}
	g, err := d.obtain(ctx, d.now().Add(d.RetryFor), Transient, d.successorOf(replaced...))
	if err != nil {
		return nil, err
	}
	if err := d.install(ctx, g); err != nil {
		return nil, err
	}
	d.retireReplaced(ctx, g, replaced)
	return g, nil
}

// Run obtains and installs a certificate as Issue does, then replaces it
// before it ends, until ctx is done (then it returns nil, leaving the last
// certificate in place). Transient failures and an exhausted pool are
// retried with backoff; a refusal ends Run with its error.
func (d *Device) Run(ctx context.Context) error {
	retry := func(err error) bool { return Transient(err) || errors.Is(err, ErrPoolExhausted) }
	replaced, err := d.prepare(ctx)
	if err != nil {
		return err
	}
	cur, err := d.obtain(ctx, time.Time{}, retry, d.successorOf(replaced...))
	if err != nil {
		return quiet(ctx, err)
	}
	if err := d.install(ctx, cur); err != nil {
		return err
	}
	d.retireReplaced(ctx, cur, replaced)
	for {
		at := Deadline(cur, d.jitter())
		d.Logger.Info("next rotation", "serial", cur.Lease.SerialNumber, "at", at.Format(time.RFC3339),
			"certificate_expires", cur.Lease.Expiration.Format(time.RFC3339))
		revoked, ok := d.waitRotation(ctx, cur, at)
		if !ok {
			return nil
		}
		// The current certificate is replaced even if it ended while the
		// device waited (a suspended laptop): the engine then refuses the
		// replacement and Obtain issues without it.
		replaces := ""
		if !revoked && d.RetireReplaced {
			replaces = cur.Lease.SerialNumber
		}
		next, err := d.obtain(ctx, time.Time{}, retry, replaces)
		if err != nil {
			return quiet(ctx, err)
		}
		// A successor takes the address over on the gateways at once:
		// switch to it at once too; a revoked certificate carries nothing
		// any more. Otherwise give the gateways time to add the new key
		// before leaving the old one.
		delay := d.SwitchDelay
		if revoked || replaces != "" && next.Lease.sameAddresses(cur.Lease) {
			delay = 0
		}
		if !backoff.Wait(ctx, delay) {
			d.retire(context.WithoutCancel(ctx), next, 1, "unused certificate") // never installed
			return nil
		}
		switched := d.now()
		if err := d.install(ctx, next); err != nil {
			return err
		}
		if delay == 0 {
			d.settle(ctx, next, switched)
		}
		d.Logger.Info("rotated", "old_serial", cur.Lease.SerialNumber, "new_serial", next.Lease.SerialNumber,
			"address", prefixStrings(next.Lease.Addresses))
		if revoked {
			d.Logger.Info("replaced the certificate an operator revoked", "serial", cur.Lease.SerialNumber)
		} else if d.RetireReplaced {
			d.retire(ctx, cur, retireAttempts, replacedCert)
		} else {
			d.Logger.Info("the replaced certificate stays valid until it expires, for whoever applies the new file",
				"serial", cur.Lease.SerialNumber, "expires", cur.Lease.Expiration.Format(time.RFC3339))
		}
		cur = next
	}
}

// waitRotation waits until at, reading the revocation list every
// CRLInterval (give or take a quarter) meanwhile. It reports whether an
// operator revoked cur (then it returns at once), and ok false when ctx
// ended first.
func (d *Device) waitRotation(ctx context.Context, cur *Grant, at time.Time) (revoked, ok bool) {
	for {
		wait := at.Sub(d.now())
		check := false
		if d.Revocations != nil && d.CRLInterval > 0 {
			if poll := PollDelay(d.CRLInterval, d.jitter()); poll < wait {
				wait, check = poll, true
			}
		}
		if !backoff.Wait(ctx, wait) {
			return false, false
		}
		if !check {
			return false, true
		}
		r, err := d.Revocations.Revoked(ctx, cur.Lease.SerialNumber)
		switch {
		case ctx.Err() != nil:
			return false, false
		case err != nil:
			d.Logger.Warn("could not read the CRL to see whether the certificate was revoked", "error", err)
		case r:
			d.Logger.Warn("the certificate was revoked (it is on the CRL); enrolling again", "serial", cur.Lease.SerialNumber)
			return true, true
		}
	}
}

// prepare checks that every Sink can install a certificate, and returns
// the certificates the Sinks hold from an earlier run.
func (d *Device) prepare(ctx context.Context) ([]*Grant, error) {
	for _, s := range d.Sinks {
		if p, ok := s.(Preparer); ok {
			if err := p.Prepare(ctx); err != nil {
				return nil, err
			}
		}
	}
	var replaced []*Grant
	for _, s := range d.Sinks {
		r, ok := s.(Replacer)
		if !ok {
			continue
		}
		g, err := r.Replaced()
		if err != nil {
			d.Logger.Warn("cannot tell which certificate this run replaces; it stays valid until it expires", "error", err)
			continue
		}
		if g != nil {
			replaced = append(replaced, g)
		}
	}
	return replaced, nil
}

// retireReplaced revokes the certificates that installing cur replaced.
func (d *Device) retireReplaced(ctx context.Context, cur *Grant, replaced []*Grant) {
	for _, old := range replaced {
		switch {
		case old.Lease.SerialNumber == cur.Lease.SerialNumber:
		case !old.Lease.Expiration.IsZero() && !d.now().Before(old.Lease.Expiration),
			!old.TokenEnd.IsZero() && !d.now().Before(old.TokenEnd):
			d.Logger.Debug("the replaced certificate has ended already", "serial", old.Lease.SerialNumber)
		case old.Token == "" && old.Lease.LeaseID == "": // a lease alone: written with a person's login (-auth token)
			d.Logger.Warn("the replaced certificate stays valid until it expires: there is no login token beside it to revoke it with; "+
				"an operator can revoke it with `vault write <mount>/revoke serial_number=...`",
				"serial", old.Lease.SerialNumber, "expires", old.Lease.Expiration.Format(time.RFC3339))
		default:
			d.retire(ctx, old, retireAttempts, replacedCert)
		}
	}
}

// successorOf is the serial of the certificate among olds that a new one
// replaces (the issue's replaces=, which keeps its addresses): the first that
// has not ended. It is empty unless the device switches the interface
// itself (RetireReplaced): the engine revokes a replaced certificate at
// once, and a wg-quick file is applied by someone else, later.
func (d *Device) successorOf(olds ...*Grant) string {
	if !d.RetireReplaced {
		return ""
	}
	for _, old := range olds {
		ended := (!old.Lease.Expiration.IsZero() && !d.now().Before(old.Lease.Expiration)) ||
			(!old.TokenEnd.IsZero() && !d.now().Before(old.TokenEnd))
		if !ended {
			return old.Lease.SerialNumber
		}
	}
	return ""
}

// obtain makes a key and has it certified as the successor of replaces
// (when not empty), retrying the failures retry accepts with backoff, until
// giveUp (zero: never) or ctx ends.
func (d *Device) obtain(ctx context.Context, giveUp time.Time, retry func(error) bool, replaces string) (*Grant, error) {
	b := d.Backoff
	for {
		private, public, err := d.generate()
		if err != nil {
			return nil, err
		}
		g, err := d.Source.Obtain(ctx, public, replaces)
		if err == nil {
			g.Private = private
			d.Logger.Info("certificate issued", "serial", g.Lease.SerialNumber, "lease_id", g.Lease.LeaseID, "common_name", g.Lease.CommonName,
				"address", prefixStrings(g.Lease.Addresses), "expires", g.Lease.Expiration.Format(time.RFC3339))
			return g, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		delay := b.Next()
		if !retry(err) {
			return nil, err
		}
		if !giveUp.IsZero() && d.now().Add(delay).After(giveUp) {
			return nil, fmt.Errorf("still failing after retrying for %s: %w", d.RetryFor, err)
		}
		d.Logger.Warn("could not get a certificate; retrying", "error", err, "in", delay.Round(time.Millisecond))
		if !backoff.Wait(ctx, delay) {
			return nil, ctx.Err()
		}
	}
}

// settle has every Sink that can see the switch to g at since through
// (Settler) do so.
func (d *Device) settle(ctx context.Context, g *Grant, since time.Time) {
	for _, s := range d.Sinks {
		if st, ok := s.(Settler); ok {
			st.Settle(ctx, g, since)
		}
	}
}

// install hands the grant to every sink. If one fails, the certificate is
// revoked: nothing uses it, and its private key is gone with this run.
func (d *Device) install(ctx context.Context, g *Grant) error {
	for _, s := range d.Sinks {
		if err := s.Install(ctx, g); err != nil {
			d.retire(context.WithoutCancel(ctx), g, retireAttempts, "certificate it could not install")
			return fmt.Errorf("install certificate %s: %w", g.Lease.SerialNumber, err)
		}
	}
	return nil
}

// retire revokes a certificate (what says which, for the log), trying up
// to attempts times; if Vault stays unreachable, the certificate ends at its
// expiry anyway.
func (d *Device) retire(ctx context.Context, g *Grant, attempts int, what string) {
	b := d.Backoff
	for i := 1; ; i++ {
		err := d.Source.Retire(ctx, g)
		if err == nil {
			d.Logger.Info("revoked the "+what, "serial", g.Lease.SerialNumber, "lease_id", g.Lease.LeaseID)
			return
		}
		if i >= attempts || !Transient(err) || !backoff.Wait(ctx, b.Next()) {
			d.Logger.Warn("could not revoke the "+what+"; it ends at its expiry",
				"serial", g.Lease.SerialNumber, "expires", g.Lease.Expiration.Format(time.RFC3339), "error", err)
			return
		}
	}
}

// quiet is err, or nil when ctx ended (a shutdown is not a failure).
func quiet(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return err
}

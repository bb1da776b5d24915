package device

import (
	"time"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/cmd/internal/backoff"
)

// rotateFraction is the share of a certificate's lifetime after which the
// device replaces it; rotateJitter the largest share taken off at random,
// so that a fleet issued together does not come back together.
const (
	rotateFraction = 2.0 / 3
	rotateJitter   = 0.1
)

// RotateAt is when to replace a certificate received at received with
// lifetime ttl: at two thirds of the lifetime, minus jitter (in [0, 1))
// times a tenth of it, to the millisecond.
func RotateAt(received time.Time, ttl time.Duration, jitter float64) time.Time {
	jitter = min(max(jitter, 0), 1)
	after := time.Duration(float64(ttl) * (rotateFraction - rotateJitter*jitter))
	return received.Add(after.Round(time.Millisecond))
}

// Deadline is when to replace a grant: by RotateAt, and early enough before
// its login token ends — Vault revokes the certificate with the token — to
// have a replacement in place: at two thirds of the token's remaining life
// when that comes first. A zero tokenEnd means the token does not expire.
func Deadline(g *Grant, jitter float64) time.Time {
	at := RotateAt(g.Lease.Received, g.Lease.TTL, jitter)
	if g.TokenEnd.IsZero() || !g.TokenEnd.Before(g.Lease.Expires()) {
		return at
	}
	byToken := RotateAt(g.Lease.Received, g.TokenEnd.Sub(g.Lease.Received), jitter)
	if byToken.Before(at) {
		return byToken
	}
	return at
}

// DefaultBackoff is the retry delay towards Vault.
func DefaultBackoff() backoff.Backoff {
	return backoff.Backoff{Min: 250 * time.Millisecond, Max: 30 * time.Second}
}

// PollDelay is how long to wait before the next look at the CRL: interval
// give or take a quarter, by jitter (in [0, 1)), so that a fleet started
// together does not ask together.
func PollDelay(interval time.Duration, jitter float64) time.Duration {
	jitter = min(max(jitter, 0), 1)
	return time.Duration(float64(interval) * (0.75 + 0.5*jitter)).Round(time.Millisecond)
}

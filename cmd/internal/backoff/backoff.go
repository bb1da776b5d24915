// Package backoff is the retry delay the daemons use towards Vault:
// exponential, with equal jitter (half of each delay fixed, half random), so
// that a fleet that lost Vault at the same moment does not come back at the
// same moment, and no retry comes sooner than half the delay.
package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// A Backoff is an exponential retry delay with jitter between Min and Max.
// The zero value is not useful; set Min and Max.
type Backoff struct {
	Min, Max time.Duration
	attempt  int
}

// Next returns the next delay: random in [d/2, d], where d doubles with
// every attempt from Min up to Max.
func (b *Backoff) Next() time.Duration {
	d := b.Min << min(b.attempt, 20)
	if d <= 0 || d > b.Max {
		d = b.Max
	}
	b.attempt++
	return d/2 + rand.N(d/2+1)
}

// Reset starts over after a success.
func (b *Backoff) Reset() { b.attempt = 0 }

// Sleep waits for the next delay; it reports false when ctx ended first.
func (b *Backoff) Sleep(ctx context.Context) bool { return Wait(ctx, b.Next()) }

// Wait waits for d; it reports false when ctx ended first (or was already
// done when d is not positive).
func Wait(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

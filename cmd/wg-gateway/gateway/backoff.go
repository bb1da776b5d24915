package gateway

import (
	"context"
	"math/rand/v2"
	"time"
)

// Bounds of the retry backoff.
const (
	backoffMin = 200 * time.Millisecond
	backoffMax = 5 * time.Second
)

// backoff is an exponential retry delay with full jitter.
type backoff struct{ attempt int }

// next returns the next delay: random in [d/2, d] where d doubles per
// attempt from backoffMin up to backoffMax.
func (b *backoff) next() time.Duration {
	d := backoffMin << min(b.attempt, 10)
	d = min(d, backoffMax)
	b.attempt++
	return d/2 + rand.N(d/2+1)
}

// reset starts over after a success.
func (b *backoff) reset() { b.attempt = 0 }

// sleep waits for the next delay; it reports false when ctx ended first.
func (b *backoff) sleep(ctx context.Context) bool {
	t := time.NewTimer(b.next())
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

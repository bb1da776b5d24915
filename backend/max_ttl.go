package backend

import (
	"sync"
	"time"
)

// maxTTLRefresh is how long the mount's maximum lease TTL is cached. Asking
// Vault is a round trip over gRPC for an external plugin, which the issue
// path cannot afford on every request; a tune of the mount takes effect
// within this time.
const maxTTLRefresh = 10 * time.Second

// maxTTLCache caches the mount's maximum lease TTL.
type maxTTLCache struct {
	mu      sync.Mutex
	value   time.Duration
	fetched time.Time
}

// get returns the cached value, asking fetch when it is older than
// maxTTLRefresh at now.
func (c *maxTTLCache) get(now time.Time, fetch func() time.Duration) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fetched.IsZero() || now.Sub(c.fetched) >= maxTTLRefresh {
		c.value, c.fetched = fetch(), now
	}
	return c.value
}

package backend

import (
	"context"
	"sync"

	"github.com/hashicorp/vault/sdk/logical"
)

// configCache keeps the CA, gateways and roles in memory so that the issue
// path reads no storage. Entries are loaded on first use, replaced by their
// write handlers and dropped by Invalidate. Cached values are never mutated:
// a write stores a new value.
type configCache struct {
	mu sync.RWMutex
	// forgotten counts the entries dropped by Invalidate: a load that
	// began before one may hold what another node has since replaced, and
	// is not kept.
	forgotten uint64
	// ca holds the mount's CA under caStorageKey once loaded: a map of one,
	// so that it is loaded and replaced as gateways and roles are (cached,
	// store), and a load never overwrites a write.
	ca       map[string]*caBundle
	gateways map[string]*gatewayEntry
	roles    map[string]*roleEntry
}

func newConfigCache() *configCache {
	return &configCache{
		ca:       make(map[string]*caBundle),
		gateways: make(map[string]*gatewayEntry),
		roles:    make(map[string]*roleEntry),
	}
}

func (c *configCache) forgetCA() {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.ca, caStorageKey)
	c.forgotten++
}

func (c *configCache) forgetGateway(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.gateways, name)
	c.forgotten++
}

func (c *configCache) forgetRole(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.roles, name)
	c.forgotten++
}

// cached reads name from m under the cache's lock, and on a miss loads it
// with load and remembers it when it exists, unless a write stored name or
// Invalidate dropped an entry meanwhile (the write's value wins; after an
// invalidation the next read loads again).
func cached[T any](ctx context.Context, c *configCache, m map[string]*T, name string,
	load func(context.Context, logical.Storage, string) (*T, error), s logical.Storage,
) (*T, error) {
	c.mu.RLock()
	v, ok := m[name]
	forgotten := c.forgotten
	c.mu.RUnlock()
	if ok {
		return v, nil
	}
	v, err := load(ctx, s, name)
	if err != nil || v == nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if newer, ok := m[name]; ok { // a write won the race: keep its value
		return newer, nil
	}
	if c.forgotten == forgotten {
		m[name] = v
	}
	return v, nil
}

// store remembers v (or forgets name when v is nil) after a write.
func store[T any](c *configCache, m map[string]*T, name string, v *T) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if v == nil {
		delete(m, name)
		return
	}
	m[name] = v
}

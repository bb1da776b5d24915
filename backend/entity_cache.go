package backend

import (
	"sync"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
)

const (
	// entityCacheTTL is how long an entity looked up for a common name is
	// reused. Asking Vault is a gRPC round trip for an external plugin; a
	// device that issues repeatedly (a rotation, a fleet behind one entity)
	// need not pay it every time. A renamed entity shows within this time.
	entityCacheTTL = 30 * time.Second
	// entityCacheMax bounds the cache; past it, it starts over.
	entityCacheMax = 10000
)

// entityCache caches Vault identity entities by id.
type entityCache struct {
	mu      sync.Mutex
	entries map[string]cachedEntity
}

type cachedEntity struct {
	entity  *logical.Entity
	fetched time.Time
}

// get returns the entity id, asking fetch when it is not cached or older
// than entityCacheTTL at now.
func (c *entityCache) get(now time.Time, id string, fetch func(string) (*logical.Entity, error)) (*logical.Entity, error) {
	c.mu.Lock()
	e, ok := c.entries[id]
	c.mu.Unlock()
	if ok && now.Sub(e.fetched) < entityCacheTTL {
		return e.entity, nil
	}
	entity, err := fetch(id)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil || len(c.entries) >= entityCacheMax {
		c.entries = make(map[string]cachedEntity)
	}
	c.entries[id] = cachedEntity{entity: entity, fetched: now}
	return entity, nil
}

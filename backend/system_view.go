package backend

import (
	"sync"
	"time"

	"github.com/hashicorp/vault/sdk/helper/consts"
	"github.com/hashicorp/vault/sdk/logical"
)

// How long cachedSystemView reuses an answer. A change shows within this
// time: a tune of the mount's max lease TTL, a renamed entity, a node
// turning into a performance standby.
const (
	replicationStateTTL = 5 * time.Second
	maxLeaseTTLTTL      = 10 * time.Second
	entityTTL           = 30 * time.Second
	// entityCacheMax bounds the entity cache; past it, it starts over.
	entityCacheMax = 10000
)

// cachedSystemView answers from memory, for a short time, the SystemView
// questions the hot paths ask on every request. For an external plugin
// each is a gRPC round trip to Vault: framework.Backend asks for the
// replication state before every path operation, the issue path for the
// mount's max lease TTL and for the caller's entity.
type cachedSystemView struct {
	logical.SystemView
	now func() time.Time // the mount's clock (backend.clock.Now)

	mu          sync.Mutex
	replState   consts.ReplicationState
	replFetched time.Time
	maxTTL      time.Duration
	maxFetched  time.Time
	entities    map[string]cachedEntity
}

type cachedEntity struct {
	entity  *logical.Entity
	fetched time.Time
}

func newCachedSystemView(sys logical.SystemView, now func() time.Time) *cachedSystemView {
	return &cachedSystemView{SystemView: sys, now: now, entities: make(map[string]cachedEntity)}
}

// fresh reports whether something fetched at fetched is younger than ttl.
func (c *cachedSystemView) fresh(fetched time.Time, ttl time.Duration) bool {
	return !fetched.IsZero() && c.now().Sub(fetched) < ttl
}

// ReplicationState is the cluster's replication state.
func (c *cachedSystemView) ReplicationState() consts.ReplicationState {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.fresh(c.replFetched, replicationStateTTL) {
		c.replState, c.replFetched = c.SystemView.ReplicationState(), c.now()
	}
	return c.replState
}

// MaxLeaseTTL is the mount's maximum lease TTL.
func (c *cachedSystemView) MaxLeaseTTL() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.fresh(c.maxFetched, maxLeaseTTLTTL) {
		c.maxTTL, c.maxFetched = c.SystemView.MaxLeaseTTL(), c.now()
	}
	return c.maxTTL
}

// EntityInfo is the identity entity id.
func (c *cachedSystemView) EntityInfo(id string) (*logical.Entity, error) {
	c.mu.Lock()
	e, ok := c.entities[id]
	c.mu.Unlock()
	if ok && c.fresh(e.fetched, entityTTL) {
		return e.entity, nil
	}
	entity, err := c.SystemView.EntityInfo(id)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entities) >= entityCacheMax {
		c.entities = make(map[string]cachedEntity)
	}
	c.entities[id] = cachedEntity{entity: entity, fetched: c.now()}
	return entity, nil
}

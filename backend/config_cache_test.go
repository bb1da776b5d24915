package backend

import (
	"context"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"
	"github.com/stretchr/testify/require"
)

// afterGetStorage runs once, after the first Get of key has read storage
// and before it returns, a hook: what another request does while a load
// is in flight.
type afterGetStorage struct {
	logical.Storage
	key  string
	hook func()
}

func (s *afterGetStorage) Get(ctx context.Context, key string) (*logical.StorageEntry, error) {
	e, err := s.Storage.Get(ctx, key)
	if key == s.key && s.hook != nil {
		hook := s.hook
		s.hook = nil
		hook()
	}
	return e, err
}

// configRecords are the cached records, each with a write that changes
// it and a check that a read sees the change.
var configRecords = []struct {
	name, key, path string
	write           map[string]any
	check           func(t *testing.T, e *testEnv)
}{
	{name: "ca", key: caStorageKey, path: "config/ca", write: map[string]any{"common_name": "Rotated CA"},
		check: func(t *testing.T, e *testEnv) { require.Equal(t, "Rotated CA", e.currentCA().Subject.CommonName) }},
	{name: "gateway", key: gatewayStoragePrefix + "gw1", path: "gateways/gw1", write: map[string]any{"endpoint": "198.51.100.2:51820"},
		check: func(t *testing.T, e *testEnv) {
			require.Equal(t, "198.51.100.2:51820", e.ok(logical.ReadOperation, "gateways/gw1", nil).Data["endpoint"])
			require.Equal(t, "198.51.100.2:51820", e.issue("alice").Data["endpoint"])
		}},
	{name: "role", key: roleStoragePrefix + "laptop", path: "roles/laptop", write: map[string]any{"ttl": "2h"},
		check: func(t *testing.T, e *testEnv) {
			require.EqualValues(t, 7200, e.ok(logical.ReadOperation, "roles/laptop", nil).Data["ttl"])
		}},
}

// TestConfigLoadRace checks, for the CA, a gateway and a role, that a
// load which read storage before the record changed does not leave the
// old value in memory: neither when the change is a write on this node
// that made its value current (a rotation of the CA racing a read after a
// plugin start, nothing cached yet, must leave the rotated CA current),
// nor when another node wrote it and Vault invalidated the key here.
func TestConfigLoadRace(t *testing.T) {
	ctx := context.Background()
	for _, elsewhere := range []bool{false, true} {
		for _, rec := range configRecords {
			name := "written here/" + rec.name
			if elsewhere {
				name = "written elsewhere and invalidated/" + rec.name
			}
			t.Run(name, func(t *testing.T) {
				e := newTestEnv(t)
				other := e.otherNode()
				e.b.invalidate(ctx, rec.key) // as after a plugin start: nothing cached
				s := &afterGetStorage{Storage: e.storage, key: rec.key}
				e.storage = s
				s.hook = func() {
					if !elsewhere {
						e.ok(logical.UpdateOperation, rec.path, rec.write)
						return
					}
					other.ok(logical.UpdateOperation, rec.path, rec.write)
					e.b.invalidate(ctx, rec.key)
				}
				e.ok(logical.ReadOperation, rec.path, nil)
				require.Nil(t, s.hook, "the read did not load %s from storage", rec.key)
				rec.check(t, e)
			})
		}
	}
}

// otherNode returns a second backend over the same storage: another
// node of the cluster.
func (e *testEnv) otherNode() *testEnv {
	e.t.Helper()
	conf := logical.TestBackendConfig()
	conf.System = e.sys
	conf.StorageView = e.storage
	be, err := NewFactory("v1.2.3")(context.Background(), conf)
	require.NoError(e.t, err)
	other := &testEnv{t: e.t, b: be.(*backend), storage: e.storage, sys: e.sys, gwKey: e.gwKey}
	e.t.Cleanup(func() { other.b.Cleanup(context.Background()) })
	return other
}

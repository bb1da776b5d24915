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

// TestConfigLoadKeepsWrite checks, for the CA, a gateway and a role, that
// a load which read storage before a write of the same record does not
// overwrite in memory what the write made current: a rotation of the CA
// racing a read after a plugin start (nothing cached yet) must leave the
// rotated CA current.
func TestConfigLoadKeepsWrite(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name, key, read string
		write           map[string]any
		writePath       string
		check           func(t *testing.T, e *testEnv)
	}{
		{name: "ca", key: caStorageKey, read: "ca", writePath: "config/ca",
			write: map[string]any{"common_name": "Rotated CA"},
			check: func(t *testing.T, e *testEnv) { require.Equal(t, "Rotated CA", e.currentCA().Subject.CommonName) }},
		{name: "gateway", key: gatewayStoragePrefix + "gw1", read: "gateways/gw1", writePath: "gateways/gw1",
			write: map[string]any{"endpoint": "198.51.100.2:51820"},
			check: func(t *testing.T, e *testEnv) {
				require.Equal(t, "198.51.100.2:51820", e.issue("alice").Data["endpoint"])
			}},
		{name: "role", key: roleStoragePrefix + "laptop", read: "roles/laptop", writePath: "roles/laptop",
			write: map[string]any{"ttl": "2h"},
			check: func(t *testing.T, e *testEnv) {
				require.EqualValues(t, 7200, e.ok(logical.ReadOperation, "roles/laptop", nil).Data["ttl"])
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEnv(t)
			e.b.invalidate(ctx, tc.key) // as after a plugin start: nothing cached
			s := &afterGetStorage{Storage: e.storage, key: tc.key}
			e.storage = s
			s.hook = func() { e.ok(logical.UpdateOperation, tc.writePath, tc.write) }
			e.ok(logical.ReadOperation, tc.read, nil)
			require.Nil(t, s.hook, "the read did not load %s from storage", tc.key)
			tc.check(t, e)
		})
	}
}

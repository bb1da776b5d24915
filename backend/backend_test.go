package backend

import (
	"context"
	"math/big"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
	"github.com/stretchr/testify/require"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/wgkey"
)

// testEnv is a backend on in-memory storage with a CA, a gateway "gw1" and
// a role "laptop".
type testEnv struct {
	t       *testing.T
	b       *backend
	storage logical.Storage
	sys     *logical.StaticSystemView
	gwKey   string
}

func newTestEnv(t *testing.T) *testEnv {
	t.Helper()
	sys := &logical.StaticSystemView{
		DefaultLeaseTTLVal: 24 * time.Hour,
		MaxLeaseTTLVal:     720 * time.Hour,
	}
	conf := logical.TestBackendConfig()
	conf.System = sys
	conf.StorageView = &logical.InmemStorage{}
	be, err := NewFactory("v1.2.3")(context.Background(), conf)
	require.NoError(t, err)
	env := &testEnv{t: t, b: be.(*backend), storage: conf.StorageView, sys: sys}
	t.Cleanup(func() { env.b.Cleanup(context.Background()) })

	_, gw, err := wgkey.Generate()
	require.NoError(t, err)
	env.gwKey = gw.String()
	env.ok(logical.UpdateOperation, "config/ca", map[string]any{"common_name": "Test CA"})
	env.ok(logical.UpdateOperation, "gateways/gw1", map[string]any{
		"endpoint":     "198.51.100.1:51820",
		"public_key":   env.gwKey,
		"address":      "10.77.0.1,fd77::1",
		"address_pool": "10.77.0.0/16,fd77::/64",
	})
	env.ok(logical.UpdateOperation, "roles/laptop", map[string]any{"gateway": "gw1", "ttl": "8h", "max_ttl": "24h"})
	return env
}

// do sends a request as the token with the given display name (no entity).
func (e *testEnv) do(op logical.Operation, path string, data map[string]any) (*logical.Response, error) {
	return e.doAs("alice", op, path, data)
}

// doAs sends a request as a token without an entity whose display name and
// accessor are who.
func (e *testEnv) doAs(who string, op logical.Operation, path string, data map[string]any) (*logical.Response, error) {
	return e.doAsToken(who, "accessor-"+who, op, path, data)
}

// doAsToken sends a request as the token without an entity with the given
// display name and accessor.
func (e *testEnv) doAsToken(name, accessor string, op logical.Operation, path string, data map[string]any) (*logical.Response, error) {
	req := &logical.Request{
		Operation:           op,
		Path:                path,
		Data:                data,
		Storage:             e.storage,
		DisplayName:         name,
		ClientTokenAccessor: accessor,
		ClientToken:         "salted-" + accessor,
	}
	return e.b.HandleRequest(context.Background(), req)
}

// ok sends a request that must succeed.
func (e *testEnv) ok(op logical.Operation, path string, data map[string]any) *logical.Response {
	e.t.Helper()
	resp, err := e.do(op, path, data)
	require.NoError(e.t, err, path)
	if resp != nil {
		require.False(e.t, resp.IsError(), "%s: %v", path, resp.Error())
	}
	return resp
}

// fails sends a request that must be refused with a message containing want.
func (e *testEnv) fails(op logical.Operation, path string, data map[string]any, want string) {
	e.t.Helper()
	resp, err := e.do(op, path, data)
	if err == nil {
		require.NotNil(e.t, resp, path)
		require.True(e.t, resp.IsError(), "%s: want error %q, got %v", path, want, resp.Data)
		err = resp.Error()
	}
	require.Contains(e.t, err.Error(), want)
}

// issue issues a certificate for a fresh key as who.
func (e *testEnv) issue(who string) *logical.Response {
	e.t.Helper()
	_, pub, err := wgkey.Generate()
	require.NoError(e.t, err)
	resp, err := e.doAs(who, logical.UpdateOperation, "issue/laptop", map[string]any{"public_key": pub.String()})
	require.NoError(e.t, err)
	require.False(e.t, resp.IsError(), "issue: %v", resp.Error())
	return resp
}

// revokeLease revokes the lease of an issue response as Vault would.
func (e *testEnv) revokeLease(resp *logical.Response) {
	e.t.Helper()
	req := &logical.Request{
		Operation: logical.RevokeOperation,
		Storage:   e.storage,
		Secret:    resp.Secret,
	}
	r, err := e.b.HandleRequest(context.Background(), req)
	require.NoError(e.t, err)
	if r != nil {
		require.False(e.t, r.IsError(), "revoke: %v", r.Error())
	}
}

func itoa(n uint64) string { return new(big.Int).SetUint64(n).String() }

func mustKey(t *testing.T) string {
	t.Helper()
	return mustGenerate(t).String()
}

func mustGenerate(t *testing.T) wgtypes.Key {
	t.Helper()
	_, pub, err := wgkey.Generate()
	require.NoError(t, err)
	return pub
}

package backend

import (
	"context"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"
	"github.com/stretchr/testify/require"
)

// issueKey issues a certificate for key as who; it must succeed.
func (e *testEnv) issueKey(who string, key string) *logical.Response {
	e.t.Helper()
	resp, err := e.doAs(who, logical.UpdateOperation, "issue/laptop", map[string]any{"public_key": key})
	require.NoError(e.t, err)
	require.False(e.t, resp.IsError(), "issue: %v", resp.Error())
	return resp
}

// refusedKey checks that who may not be issued a certificate for key.
func (e *testEnv) refusedKey(who string, key string) {
	e.t.Helper()
	resp, err := e.doAs(who, logical.UpdateOperation, "issue/laptop", map[string]any{"public_key": key})
	require.NoError(e.t, err)
	require.True(e.t, resp.IsError(), "%s was issued a certificate for a key another identity holds", who)
	require.Contains(e.t, resp.Error().Error(), "public_key: key is bound to a live certificate of another identity")
}

// reload replaces the backend by a new one over the same storage, as a
// plugin restart or a leader change does.
func (e *testEnv) reload() {
	e.t.Helper()
	conf := logical.TestBackendConfig()
	conf.System = e.sys
	conf.StorageView = e.storage
	be, err := NewFactory("v1.2.3")(e.t.Context(), conf)
	require.NoError(e.t, err)
	require.NoError(e.t, be.Initialize(e.t.Context(), &logical.InitializationRequest{Storage: e.storage}))
	e.b = be.(*backend)
	e.t.Cleanup(func() { be.Cleanup(context.Background()) })
}

// revokeKey revokes by public key and returns the serials it names.
func (e *testEnv) revokeKey(key string) []string {
	e.t.Helper()
	resp := e.ok(logical.UpdateOperation, "revoke", map[string]any{"public_key": key})
	return resp.Data["serial_numbers"].([]string)
}

// feedSerials returns the serials in gw1's full peer set.
func (e *testEnv) feedSerials() []string {
	e.t.Helper()
	out := []string{}
	for _, p := range e.peers("0").Peers {
		out = append(out, p.SerialNumber)
	}
	return out
}

// TestKeyHeldByOlderCertificate: a device re-issues for the same key, and
// the newer certificate goes. The older one still holds the key: another
// identity may not take it, and revoking by key revokes it.
func TestKeyHeldByOlderCertificate(t *testing.T) {
	env := newTestEnv(t)
	key := mustKey(t)
	older := env.issueKey("alice", key)
	newer := env.issueKey("alice", key)
	env.revokeLease(newer)
	olderSerial := older.Data["serial_number"].(string)
	require.Equal(t, []string{olderSerial}, env.feedSerials())

	env.refusedKey("mallory", key)
	require.Equal(t, []string{olderSerial}, env.revokeKey(key))
	require.Empty(t, env.feedSerials())
	require.Empty(t, env.revokeKey(key), "idempotent")
	env.issueKey("mallory", key) // now the key is free
}

// TestRevokeByKeyRevokesEveryCertificate: revoke public_key=K revokes every
// live certificate for K, not one of them.
func TestRevokeByKeyRevokesEveryCertificate(t *testing.T) {
	env := newTestEnv(t)
	key := mustKey(t)
	want := []string{}
	for range 3 {
		want = append(want, env.issueKey("alice", key).Data["serial_number"].(string))
	}
	other := env.issue("alice").Data["serial_number"].(string)
	require.ElementsMatch(t, want, env.revokeKey(key))
	require.Equal(t, []string{other}, env.feedSerials())
	for _, s := range want {
		require.True(t, env.crlSerials()[s], s)
	}
}

// TestKeyOwnershipSurvivesReload: after a reload (the registry rebuilt from
// storage), whichever of two certificates for a key is revoked, the other
// still holds the key. The storage is copied so that both orders are tried
// on the same serials.
func TestKeyOwnershipSurvivesReload(t *testing.T) {
	env := newTestEnv(t)
	key := mustKey(t)
	serials := []string{
		env.issueKey("alice", key).Data["serial_number"].(string),
		env.issueKey("alice", key).Data["serial_number"].(string),
	}
	saved := snapshot(t, env.storage)
	for i, gone := range serials {
		kept := serials[1-i]
		t.Run(gone, func(t *testing.T) {
			copied := &logical.InmemStorage{}
			for k, v := range saved {
				require.NoError(t, copied.Put(t.Context(), &logical.StorageEntry{Key: k, Value: []byte(v)}))
			}
			env := &testEnv{t: t, storage: copied, sys: env.sys, gwKey: env.gwKey}
			env.reload()
			env.ok(logical.UpdateOperation, "revoke", map[string]any{"serial_number": gone})
			env.refusedKey("mallory", key)
			env.reload()
			env.refusedKey("mallory", key)
			require.Equal(t, []string{kept}, env.revokeKey(key))
			require.Empty(t, env.feedSerials())
		})
	}
}

// TestKeyComparedAsPoint: X25519 ignores the top bit of a public key, so a
// key with that bit flipped is the same key and belongs to the same
// identity.
func TestKeyComparedAsPoint(t *testing.T) {
	env := newTestEnv(t)
	key := mustGenerate(t)
	alias := key
	alias[31] ^= 0x80
	alice := env.issueKey("alice", key.String())

	resp, err := env.doAs("mallory", logical.UpdateOperation, "issue/laptop", map[string]any{"public_key": alias.String()})
	require.NoError(t, err)
	require.True(t, resp.IsError(), "mallory was issued a certificate for alice's key with the top bit flipped")
	require.Contains(t, resp.Error().Error(), "public_key")

	// Revoking by the alias revokes alice's certificate.
	require.Equal(t, []string{alice.Data["serial_number"].(string)}, env.revokeKey(alias.String()))
	require.Empty(t, env.feedSerials())
}

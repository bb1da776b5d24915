package backend

import (
	"testing"

	"github.com/hashicorp/vault/sdk/logical"
	"github.com/stretchr/testify/require"
)

// TestReloadKeepsState: a new backend over the same storage (a plugin
// restart or a leader change) loads the same certificates, feeds and CRL.
func TestReloadKeepsState(t *testing.T) {
	env := newTestEnv(t)
	kept := env.issue("alice")
	gone := env.issue("bob")
	env.revokeLease(gone)
	before := env.peers("0")

	// A new backend over the same storage: a plugin restart or leader change.
	conf := logical.TestBackendConfig()
	conf.System = env.sys
	conf.StorageView = env.storage
	be, err := NewFactory("v1.2.3")(t.Context(), conf)
	require.NoError(t, err)
	require.NoError(t, be.Initialize(t.Context(), &logical.InitializationRequest{Storage: env.storage}))
	env.b = be.(*backend)

	after := env.peers(itoa(before.Index))
	require.True(t, after.Full, "an index from before the restart gets the full set")
	require.Greater(t, after.Index, before.Index, "revisions keep growing across restarts")
	require.Len(t, after.Peers, 1)
	require.Equal(t, kept.Data["serial_number"], after.Peers[0].SerialNumber)
	require.True(t, env.crlSerials()[gone.Data["serial_number"].(string)])

	// The live address stays taken, the revoked one is reused.
	next := env.issue("carol")
	require.Equal(t, gone.Data["addresses"], next.Data["addresses"])
	require.NotEqual(t, kept.Data["addresses"], next.Data["addresses"])
}

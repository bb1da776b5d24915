package backend

import (
	"strings"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"
	"github.com/stretchr/testify/require"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/peerfeed"
)

func TestRevocationPathsConverge(t *testing.T) {
	revokers := map[string]func(env *testEnv, resp *logical.Response){
		"lease": func(env *testEnv, resp *logical.Response) { env.revokeLease(resp) },
		"serial": func(env *testEnv, resp *logical.Response) {
			env.ok(logical.UpdateOperation, "revoke", map[string]any{"serial_number": resp.Data["serial_number"]})
		},
		"public key": func(env *testEnv, resp *logical.Response) {
			env.ok(logical.UpdateOperation, "revoke", map[string]any{"public_key": resp.Data["public_key"]})
		},
	}
	for name, revoke := range revokers {
		t.Run(name, func(t *testing.T) {
			env := newTestEnv(t)
			resp := env.issue("alice")
			serial := resp.Data["serial_number"].(string)
			before := env.peers("0")
			require.Len(t, before.Peers, 1)

			revoke(env, resp)
			revoke(env, resp) // idempotent
			env.revokeLease(resp)

			rec := env.ok(logical.ReadOperation, "cert/"+serial, nil)
			require.Equal(t, true, rec.Data["revoked"])
			require.NotEmpty(t, rec.Data["revoked_at"])
			require.True(t, env.crlSerials()[serial], "serial on the CRL")

			delta := env.peers(itoa(before.Index))
			require.False(t, delta.Full)
			require.Greater(t, delta.Index, before.Index, "revision bumped")
			require.Empty(t, delta.Peers)
			require.Equal(t, []peerfeed.Removal{{SerialNumber: serial, PublicKey: resp.Data["public_key"].(string)}}, delta.Removed)
			require.Empty(t, env.peers("0").Peers)

			// The address is free again.
			again := env.issue("bob")
			require.Equal(t, resp.Data["addresses"], again.Data["addresses"])
		})
	}
}

func TestRevokeBadInput(t *testing.T) {
	env := newTestEnv(t)
	const exactlyOne = "serial_number, public_key, entity_id, common_name or role: give exactly one"
	env.fails(logical.UpdateOperation, "revoke", map[string]any{}, exactlyOne)
	env.fails(logical.UpdateOperation, "revoke", map[string]any{"serial_number": "01", "common_name": "alice"}, exactlyOne)
	env.fails(logical.UpdateOperation, "revoke", map[string]any{"entity_id": "e", "role": "laptop"}, exactlyOne)
	env.fails(logical.UpdateOperation, "revoke", map[string]any{"serial_number": "zz"}, `serial_number: "zz" is not a hex serial number`)
	env.fails(logical.UpdateOperation, "revoke", map[string]any{"serial_number": "01:02"}, "serial_number: no certificate with serial 01:02")
	env.fails(logical.UpdateOperation, "revoke", map[string]any{"public_key": "AAAA"}, "public_key: not 32 bytes")
}

// TestRevokeUnknownSerialAsWritten: the message about a serial that names
// no certificate shows the serial the caller wrote, in the form cert/:serial
// shows serials (lowercase, colon-separated bytes), leading zeros kept.
func TestRevokeUnknownSerialAsWritten(t *testing.T) {
	env := newTestEnv(t)
	for in, want := range map[string]string{
		"00:11":    "serial_number: no certificate with serial 00:11",
		"00-AB-CD": "serial_number: no certificate with serial 00:ab:cd",
		"0011":     "serial_number: no certificate with serial 00:11",
		"abc":      "serial_number: no certificate with serial 0a:bc",
		" 7f:01 ":  "serial_number: no certificate with serial 7f:01",
	} {
		resp, err := env.do(logical.UpdateOperation, "revoke", map[string]any{"serial_number": in})
		require.NoError(t, err)
		require.True(t, resp.IsError(), in)
		require.Equal(t, want, resp.Error().Error(), in)
	}
	// A serial written with leading zeros still finds its certificate.
	serial := env.issue("bob").Data["serial_number"].(string)
	resp := env.ok(logical.UpdateOperation, "revoke", map[string]any{"serial_number": "00:" + strings.ToUpper(serial)})
	require.Equal(t, []string{serial}, resp.Data["serial_numbers"])
}

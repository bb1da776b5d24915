package backend

import (
	"strings"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"
	"github.com/stretchr/testify/require"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/wgkey"
)

// TestFieldErrorsStartWithTheField: a value the field's type refuses (a
// negative duration, text for a number) is a 400 whose message starts with
// the field, as every other mistake of the caller is, not Vault's generic
// "Field validation failed".
func TestFieldErrorsStartWithTheField(t *testing.T) {
	env := newTestEnv(t)
	_, pub, err := wgkey.Generate()
	require.NoError(t, err)
	for _, tc := range []struct {
		name, path string
		data       map[string]any
		want       string
	}{
		{"negative ttl", "issue/laptop", map[string]any{"public_key": pub.String(), "ttl": "-5s"}, "ttl: cannot provide negative value"},
		{"ttl of the wrong type", "issue/laptop", map[string]any{"public_key": pub.String(), "ttl": []int{1}}, "ttl: "},
		{"role ttl not a duration", "roles/r", map[string]any{"gateway": "gw1", "ttl": "soon"}, "ttl: "},
		{"max_active_per_identity not a number", "roles/r", map[string]any{"gateway": "gw1", "max_active_per_identity": "many"}, "max_active_per_identity: "},
		{"mtu not a number", "gateways/gw1", map[string]any{"mtu": "big"}, "mtu: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := env.do(logical.UpdateOperation, tc.path, tc.data)
			require.NoError(t, err)
			require.True(t, resp.IsError(), "%v", resp)
			msg := resp.Error().Error()
			require.True(t, strings.HasPrefix(msg, tc.want), "message %q does not start with %q", msg, tc.want)
			require.NotContains(t, msg, "Field validation failed")
		})
	}
	// Nothing was written.
	resp := env.ok(logical.ListOperation, "roles/", nil)
	require.Equal(t, []string{"laptop"}, resp.Data["keys"])
	resp = env.ok(logical.ListOperation, "certs/", nil)
	require.Empty(t, resp.Data["keys"])
}

func TestFieldFirst(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`Field validation failed: error converting input for field "ttl": cannot provide negative value '-5'`, `ttl: cannot provide negative value '-5'`},
		{`Field validation failed: error converting input for field "mtu": strconv.ParseInt: parsing "big": invalid syntax`, `mtu: strconv.ParseInt: parsing "big": invalid syntax`},
		{`Field validation failed: unknown field type "x" for field "y"`, `Field validation failed: unknown field type "x" for field "y"`},
		{`ttl: must be positive`, `ttl: must be positive`},
		{`Field validation failed: error converting input for field "tt`, `Field validation failed: error converting input for field "tt`},
	} {
		require.Equal(t, tc.want, fieldFirst(tc.in), tc.in)
	}
}

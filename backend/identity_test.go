package backend

import (
	"testing"

	"github.com/hashicorp/vault/sdk/logical"
	"github.com/stretchr/testify/require"
)

// TestTokensWithoutEntityAreApart: two tokens without an entity and with the
// same display name ("token", as every `vault token create` token has) are
// two identities: one cannot take the other's key nor push the other's
// certificate out under max_active_per_identity.
func TestTokensWithoutEntityAreApart(t *testing.T) {
	env := newTestEnv(t)
	env.ok(logical.UpdateOperation, "roles/laptop", map[string]any{"max_active_per_identity": 1})
	key := mustKey(t)
	issue := func(accessor, key string) *logical.Response {
		resp, err := env.doAsToken("token", accessor, logical.UpdateOperation, "issue/laptop", map[string]any{"public_key": key})
		require.NoError(t, err)
		return resp
	}
	first := issue("acc-1", key)
	require.False(t, first.IsError(), "%v", first.Error())

	taken := issue("acc-2", key)
	require.True(t, taken.IsError(), "a second token took the first one's key")
	require.Contains(t, taken.Error().Error(), "public_key: key is bound to a live certificate of another identity")

	second := issue("acc-2", mustKey(t))
	require.False(t, second.IsError(), "%v", second.Error())
	serial := first.Data["serial_number"].(string)
	require.False(t, env.revoked(serial), "the second token's issue evicted the first token's certificate")
	require.Len(t, env.feedSerials(), 2)
}

package backend

import (
	"testing"

	"github.com/hashicorp/vault/sdk/logical"
	"github.com/stretchr/testify/require"
)

func TestRoleValidation(t *testing.T) {
	env := newTestEnv(t)
	tests := []struct {
		name string
		data map[string]any
		want string
	}{
		{"no gateway", map[string]any{}, "gateway: is required"},
		{"unknown gateway", map[string]any{"gateway": "nope"}, `gateway: unknown gateway "nope"`},
		{"ttl over max", map[string]any{"gateway": "gw1", "ttl": "2h", "max_ttl": "1h"}, "ttl: 2h0m0s is longer than max_ttl 1h0m0s"},
		{"negative limit", map[string]any{"gateway": "gw1", "max_active_per_identity": -1}, "max_active_per_identity: must not be negative"},
		{"bad template", map[string]any{"gateway": "gw1", "common_name_template": "{{identity.entity.name"}, "common_name_template: unbalanced templating characters"},
		{"bad ttl type", map[string]any{"gateway": "gw1", "ttl": "soon"}, "ttl"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env.fails(logical.UpdateOperation, "roles/r2", tt.data, tt.want)
			resp, err := env.do(logical.ReadOperation, "roles/r2", nil)
			require.NoError(t, err)
			require.Nil(t, resp, "nothing written")
		})
	}
	env.ok(logical.UpdateOperation, "roles/r2", map[string]any{"gateway": "gw1"})
	resp := env.ok(logical.ReadOperation, "roles/r2", nil)
	require.Equal(t, int64(3600), resp.Data["ttl"])
	require.Equal(t, "", resp.Data["common_name_template"], "empty: the login's name")
	require.Equal(t, []string{"laptop", "r2"}, env.ok(logical.ListOperation, "roles/", nil).Data["keys"])
	env.ok(logical.DeleteOperation, "roles/r2", nil)
	env.fails(logical.UpdateOperation, "issue/r2", map[string]any{"public_key": mustKey(t)}, `role: unknown role "r2"`)
}

package backend

import (
	"testing"

	"github.com/hashicorp/vault/sdk/logical"
	"github.com/stretchr/testify/require"
)

func TestLoginName(t *testing.T) {
	approle := &logical.Alias{MountType: "approle", MountAccessor: "auth_approle_1", Name: "0b9d3a6e-6c0e-4d0b-9c55-2f4a9e4b1c11",
		Metadata: map[string]string{"role_name": "laptop-fleet"}}
	kube := &logical.Alias{MountType: "kubernetes", Name: "6a1f6b4c-90a4-4d4e-a9a0-2f0d7f0b7e51",
		Metadata: map[string]string{"service_account_namespace": "fleet", "service_account_name": "laptop-7", "service_account_uid": "6a1f6b4c"}}
	cert := &logical.Alias{MountType: "cert", Name: "device-0042"}
	user := &logical.Alias{MountType: "userpass", Name: "alice"}
	for _, tc := range []struct {
		name        string
		entity      *logical.Entity
		displayName string
		want        string
	}{
		{"AppRole: the role's name, not its role id", &logical.Entity{Name: "entity_e67681cc", Aliases: []*logical.Alias{approle}}, "approle", "laptop-fleet"},
		{"Kubernetes: namespace/service account, not its UID", &logical.Entity{Name: "entity_0a1b2c3d", Aliases: []*logical.Alias{kube}}, "kubernetes-fleet-laptop-7", "fleet/laptop-7"},
		{"TLS certificate: its CN", &logical.Entity{Name: "entity_df7f98c0", Aliases: []*logical.Alias{cert}}, "cert-devices", "device-0042"},
		{"userpass: the user", &logical.Entity{Name: "entity_12345678", Aliases: []*logical.Alias{user}}, "userpass-alice", "alice"},
		{"an entity an operator named", &logical.Entity{Name: "laptop-7", Aliases: []*logical.Alias{approle}}, "approle", "laptop-7"},
		{"a name like Vault's but not its form", &logical.Entity{Name: "entity_LAPTOP07", Aliases: []*logical.Alias{approle}}, "approle", "entity_LAPTOP07"},
		{"several aliases: the login's", &logical.Entity{Name: "entity_12345678", Aliases: []*logical.Alias{approle, cert}}, "cert-devices", "device-0042"},
		{"several aliases, none matches: the first", &logical.Entity{Name: "entity_12345678", Aliases: []*logical.Alias{user, cert}}, "oidc-bob", "alice"},
		{"AppRole alias without metadata: its name", &logical.Entity{Name: "entity_12345678", Aliases: []*logical.Alias{{MountType: "approle", Name: "role-id"}}}, "approle", "role-id"},
		{"an entity without aliases: the display name", &logical.Entity{Name: "entity_12345678"}, "token-x", "token-x"},
		{"no entity: the token's display name", nil, "token-laptop-9", "token-laptop-9"},
		{"root token", nil, "root", "root"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, loginName(tc.entity, tc.displayName))
		})
	}
}

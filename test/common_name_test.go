package test

import (
	"strings"
	"testing"

	vault "github.com/hashicorp/vault/api"
	"github.com/stretchr/testify/require"
)

// TestDefaultCommonNames: on a real Vault, a role without a
// common_name_template names each certificate after the login an operator
// would recognise: an AppRole device after its AppRole role (not the
// entity_1234abcd Vault generated), a user after the user name, an entity
// the operator named after that name, a token without an entity after its
// display name. The cert-auth and Kubernetes devices are in
// TestDeviceCertAuth and TestKubernetesDevice.
func TestDefaultCommonNames(t *testing.T) {
	s := startVault(t)
	setUpEngine(t, s)
	s.cli("write", "wg/roles/laptop", "gateway=gw1", "ttl=1h")
	require.NoError(t, s.root.Sys().PutPolicy("device", devicePolicy))
	s.cli("auth", "enable", "approle")
	s.cli("auth", "enable", "userpass")

	issue := func(t *testing.T, c *vault.Client) string {
		t.Helper()
		sec, err := c.Logical().Write("wg/issue/laptop", map[string]any{"public_key": mustPub(t)})
		require.NoError(t, err)
		cn := sec.Data["common_name"].(string)
		rec, err := s.root.Logical().Read("wg/cert/" + sec.Data["serial_number"].(string))
		require.NoError(t, err)
		require.Equal(t, cn, rec.Data["common_name"])
		return cn
	}
	userLogin := func(t *testing.T, user string) *vault.Client {
		t.Helper()
		s.cli("write", "auth/userpass/users/"+user, "password=pw-"+user, "token_policies=device")
		c := s.client("")
		sec, err := c.Logical().Write("auth/userpass/login/"+user, map[string]any{"password": "pw-" + user})
		require.NoError(t, err)
		c.SetToken(sec.Auth.ClientToken)
		return c
	}

	t.Run("AppRole: the role's name", func(t *testing.T) {
		c := approleLogin(t, s, "laptop-fleet", "device")
		entity, err := s.root.Logical().Read("identity/entity/id/" + tokenEntity(t, c))
		require.NoError(t, err)
		require.Regexp(t, `^entity_[0-9a-f]{8}$`, entity.Data["name"], "Vault generated the entity's name")
		require.Equal(t, "laptop-fleet", issue(t, c))
	})
	t.Run("userpass: the user", func(t *testing.T) {
		require.Equal(t, "alice", issue(t, userLogin(t, "alice")))
	})
	t.Run("an entity the operator named: its name", func(t *testing.T) {
		auths, err := s.root.Sys().ListAuth()
		require.NoError(t, err)
		s.cli("write", "identity/entity", "name=bobs-laptop")
		id := s.cli("read", "-field=id", "identity/entity/name/bobs-laptop")
		s.cli("write", "identity/entity-alias", "name=bob", "canonical_id="+strings.TrimSpace(id),
			"mount_accessor="+auths["userpass/"].Accessor)
		require.Equal(t, "bobs-laptop", issue(t, userLogin(t, "bob")))
	})
	t.Run("a token without an entity: its display name", func(t *testing.T) {
		tok := s.cli("token", "create", "-policy=device", "-display-name=laptop-9", "-field=token")
		require.Equal(t, "token-laptop-9", issue(t, s.client(strings.TrimSpace(tok))))
		// The dev server's root token is made through auth/token/create, so
		// its display name is "token": a token has no other name.
		self, err := s.root.Auth().Token().LookupSelf()
		require.NoError(t, err)
		require.Equal(t, self.Data["display_name"], issue(t, s.root))
	})
}

// tokenEntity is the entity id of c's token.
func tokenEntity(t *testing.T, c *vault.Client) string {
	t.Helper()
	self, err := c.Auth().Token().LookupSelf()
	require.NoError(t, err)
	id, _ := self.Data["entity_id"].(string)
	require.NotEmpty(t, id)
	return id
}

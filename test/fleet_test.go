package test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"testing"

	vault "github.com/hashicorp/vault/api"
	"github.com/stretchr/testify/require"
)

// cliJSON runs the vault CLI with -format=json and returns the answer's data.
func (s *vaultServer) cliJSON(args ...string) map[string]any {
	s.t.Helper()
	out := s.cli(append([]string{args[0], "-format=json"}, args[1:]...)...)
	var sec struct {
		Data map[string]any `json:"data"`
	}
	require.NoError(s.t, json.Unmarshal([]byte(out), &sec), out)
	return sec.Data
}

// TestFleetFindAndBlockOnRealVault: an operator finds a device's
// certificates from the plain CLI (vault read wg/certs with filters, vault
// list -detailed), blocks it by common name, and after a Vault restart the
// device's next issue is refused with 403 naming the block while another
// device still issues; once unblocked the device issues again.
func TestFleetFindAndBlockOnRealVault(t *testing.T) {
	n := startFileVault(t)
	s := n.vaultServer
	setUpEngine(t, s)
	s.cli("auth", "enable", "approle")
	auths, err := s.root.Sys().ListAuth()
	require.NoError(t, err)
	s.cli("write", "wg/roles/laptop", "gateway=gw1", "ttl=1h",
		fmt.Sprintf("common_name_template={{identity.entity.aliases.%s.metadata.role_name}}", auths["approle/"].Accessor))
	require.NoError(t, s.root.Sys().PutPolicy("device", devicePolicy))
	laptop7 := approleLogin(t, s, "laptop-7", "device")
	laptop8 := approleLogin(t, s, "laptop-8", "device")
	issue := func(c *vault.Client) (*vault.Secret, error) {
		return c.Logical().Write("wg/issue/laptop", map[string]any{"public_key": mustPub(t)})
	}
	mustIssue := func(c *vault.Client) *vault.Secret {
		sec, err := issue(c)
		require.NoError(t, err)
		return sec
	}
	a, b := mustIssue(laptop7), mustIssue(laptop7)
	other := mustIssue(laptop8)
	serial := func(sec *vault.Secret) string { return sec.Data["serial_number"].(string) }

	// Find: by name (live only), by address, and every certificate with its key facts.
	found := s.cliJSON("read", "wg/certs", "live=true", "common_name=laptop-7")
	require.ElementsMatch(t, []any{serial(a), serial(b)}, found["keys"])
	facts := found["key_info"].(map[string]any)[serial(a)].(map[string]any)
	require.Equal(t, "laptop-7", facts["common_name"])
	require.Equal(t, a.Data["addresses"], facts["addresses"])
	require.Equal(t, "gw1", facts["gateway"])
	addr := other.Data["addresses"].([]any)[0].(string)
	found = s.cliJSON("read", "wg/certs", "address="+addr[:len(addr)-len("/32")])
	require.Equal(t, []any{serial(other)}, found["keys"])
	detailed := s.cli("list", "-detailed", "wg/certs")
	for _, sec := range []*vault.Secret{a, b, other} {
		require.Contains(t, detailed, serial(sec))
	}
	require.Contains(t, detailed, "laptop-8")

	// Block, as an operator logged in with userpass: the live certificates
	// are revoked and say who blocked them; the identity gets no new one.
	s.cli("auth", "enable", "userpass")
	require.NoError(t, s.root.Sys().PutPolicy("operator", `path "wg/*" { capabilities = ["create", "read", "update", "delete", "list"] }`))
	s.cli("write", "auth/userpass/users/admin", "password=pw", "token_policies=operator")
	login, err := s.client("").Logical().Write("auth/userpass/login/admin", map[string]any{"password": "pw"})
	require.NoError(t, err)
	out, err := s.CLIAs(login.Auth.ClientToken, "write", "-format=json", "wg/blocks/stolen-7", "common_name=laptop-7", "reason=stolen")
	require.NoError(t, err, out)
	var blocked struct {
		Data map[string]any `json:"data"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &blocked), out)
	require.ElementsMatch(t, []any{serial(a), serial(b)}, blocked.Data["serial_numbers"])
	require.Equal(t, "userpass-admin", blocked.Data["created_by"])
	require.Equal(t, login.Auth.EntityID, blocked.Data["created_by_entity_id"])
	for _, sec := range []*vault.Secret{a, b} {
		requireRevoked(t, s, serial(sec))
		rec := s.cliJSON("read", "wg/cert/"+serial(sec))
		require.Equal(t, "stolen-7", rec["block"])
		require.Equal(t, "userpass-admin", rec["revoked_by"])
		require.Equal(t, login.Auth.EntityID, rec["revoked_by_entity_id"])
	}
	require.Empty(t, s.cliJSON("read", "wg/certs", "live=true", "common_name=laptop-7")["keys"])

	// The block is stored: a Vault restart (the plugin loads again from
	// storage, as after a leader change) keeps it.
	n.kill()
	n.restart()

	_, err = issue(laptop7)
	var re *vault.ResponseError
	require.True(t, errors.As(err, &re), "%v", err)
	require.Equal(t, http.StatusForbidden, re.StatusCode)
	require.Contains(t, re.Error(), `permission denied: common_name "laptop-7" is blocked by block "stolen-7"`)
	require.NotContains(t, re.Error(), "admin", "the device is not told who blocked it")
	mustIssue(laptop8)
	var blocks []string
	require.NoError(t, json.Unmarshal([]byte(s.cli("list", "-format=json", "wg/blocks")), &blocks))
	require.Equal(t, []string{"stolen-7"}, blocks)

	// Unblock: the device enrols again.
	s.cli("delete", "wg/blocks/stolen-7")
	again := mustIssue(laptop7)
	require.Equal(t, "laptop-7", again.Data["common_name"])
}

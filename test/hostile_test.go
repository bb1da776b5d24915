package test

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	vault "github.com/hashicorp/vault/api"
	"github.com/hashicorp/vault/api/auth/approle"
	"github.com/stretchr/testify/require"
)

// TestHostileRequests sends a real Vault the bad requests an attacker or a
// confused client would, and checks each gets a 400 naming what is wrong;
// that the device and unauthenticated callers reach only what they should;
// and that no secret appears in clear in the audit log.
func TestHostileRequests(t *testing.T) {
	s := startVault(t)
	auditLog := filepath.Join(s.dir, "audit.log")
	s.cli("audit", "enable", "file", "file_path="+auditLog)
	setUpEngine(t, s)
	s.cli("write", "wg/roles/laptop", "gateway=gw1", "ttl=1h", "max_ttl=2h")
	s.cli("write", "wg/roles/team", "gateway=gw1", "common_name_template={{identity.entity.metadata.team}}")
	s.cli("auth", "enable", "approle")
	require.NoError(t, s.root.Sys().PutPolicy("device", devicePolicy+`
path "wg/issue/team" { capabilities = ["update"] }`))
	secrets := []string{}
	login := func(role string) *vault.Client {
		s.cli("write", "auth/approle/role/"+role, "token_policies=device")
		roleID, err := s.root.Logical().Read("auth/approle/role/" + role + "/role-id")
		require.NoError(t, err)
		sid, err := s.root.Logical().Write("auth/approle/role/"+role+"/secret-id", nil)
		require.NoError(t, err)
		secretID := sid.Data["secret_id"].(string)
		auth, err := approle.NewAppRoleAuth(roleID.Data["role_id"].(string), &approle.SecretID{FromString: secretID})
		require.NoError(t, err)
		c := s.client("")
		_, err = c.Auth().Login(t.Context(), auth)
		require.NoError(t, err)
		secrets = append(secrets, secretID, c.Token())
		return c
	}
	alice, mallory := login("alice"), login("mallory")

	shared := mustPub(t)
	_, err := alice.Logical().Write("wg/issue/laptop", map[string]any{"public_key": shared})
	require.NoError(t, err)
	lowOrder := base64.StdEncoding.EncodeToString(append([]byte{1}, make([]byte, 31)...))

	for _, tc := range []struct {
		name string
		path string
		data map[string]any
		want string
	}{
		{"malformed key", "wg/issue/laptop", map[string]any{"public_key": "not a key!"}, "public_key: not valid base64"},
		{"short key", "wg/issue/laptop", map[string]any{"public_key": "AAAA"}, "public_key: not 32 bytes (got 3)"},
		{"low-order point", "wg/issue/laptop", map[string]any{"public_key": lowOrder}, "public_key: a low-order point"},
		{"oversized key", "wg/issue/laptop", map[string]any{"public_key": strings.Repeat("A", 1<<20)}, "public_key: not 32 bytes"},
		{"key of another identity", "wg/issue/laptop", map[string]any{"public_key": shared}, "public_key: key is bound to a live certificate of another identity"},
		{"wrong type", "wg/issue/laptop", map[string]any{"public_key": mustPub(t), "ttl": []int{1}}, "* ttl: could not parse duration"},
		{"negative ttl", "wg/issue/laptop", map[string]any{"public_key": mustPub(t), "ttl": "-5s"}, "* ttl: cannot provide negative value"},
		{"huge ttl", "wg/issue/laptop", map[string]any{"public_key": mustPub(t), "ttl": "876000h"}, "ttl: 876000h0m0s is longer than the role's max_ttl 2h0m0s"},
		{"template without data", "wg/issue/team", map[string]any{"public_key": mustPub(t)}, "common_name_template"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := mallory.Logical().Write(tc.path, tc.data)
			require.Error(t, err)
			require.Contains(t, err.Error(), "Code: 400")
			require.Contains(t, err.Error(), tc.want)
		})
	}

	// Operator mistakes, as root.
	for _, tc := range []struct {
		name string
		path string
		data map[string]any
		want string
	}{
		{"bad CIDR", "wg/gateways/gw9", map[string]any{"endpoint": "a:1", "public_key": mustPub(t), "address_pool": "10.0.0.0/99"}, `address_pool: "10.0.0.0/99" is not a CIDR`},
		{"unknown gateway", "wg/roles/r9", map[string]any{"gateway": "nope"}, `gateway: unknown gateway "nope"`},
		{"traversal in instance id", "wg/gateways/gw1/status", map[string]any{"instance_id": "../../config/ca"}, "instance_id"},
		{"oversized template", "wg/roles/r9", map[string]any{"gateway": "gw1", "common_name_template": strings.Repeat("{{", 1<<16)}, "common_name_template"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.root.Logical().Write(tc.path, tc.data)
			require.Error(t, err)
			require.Contains(t, err.Error(), "Code: 400")
			require.Contains(t, err.Error(), tc.want)
		})
	}
	// Names that try to leave their path match no route.
	for _, p := range []string{"wg/gateways/..", "wg/roles/a..%2F..%2Fconfig", "wg/issue/..", "wg/cert/..%2Fconfig"} {
		resp, err := s.root.Logical().Write(p, map[string]any{"gateway": "gw1", "endpoint": "a:1"})
		require.Error(t, err, "%s accepted: %v", p, resp)
	}
	_, err = s.root.Logical().Read("wg/config/ca")
	require.NoError(t, err, "the CA is intact")

	// The device reaches its own role and nothing else.
	serial := func() string {
		sec, err := alice.Logical().Write("wg/issue/laptop", map[string]any{"public_key": mustPub(t)})
		require.NoError(t, err)
		return sec.Data["serial_number"].(string)
	}()
	for name, try := range map[string]func() error{
		"issue on another role": func() error { _, err := alice.Logical().Write("wg/issue/generated", nil); return err },
		"read a certificate":    func() error { _, err := alice.Logical().Read("wg/cert/" + serial); return err },
		"list certificates":     func() error { _, err := alice.Logical().List("wg/certs/"); return err },
		"read the CA config":    func() error { _, err := alice.Logical().Read("wg/config/ca"); return err },
		"rotate the CA":         func() error { _, err := alice.Logical().Write("wg/config/ca", map[string]any{}); return err },
		"read a peer feed":      func() error { _, err := alice.Logical().Read("wg/gateways/gw1/peers"); return err },
		"write a gateway status": func() error {
			_, err := alice.Logical().Write("wg/gateways/gw1/status", map[string]any{"instance_id": "x"})
			return err
		},
		"revoke": func() error {
			_, err := alice.Logical().Write("wg/revoke", map[string]any{"serial_number": serial})
			return err
		},
		"change a role": func() error {
			_, err := alice.Logical().Write("wg/roles/laptop", map[string]any{"ttl": "999h"})
			return err
		},
	} {
		err := try()
		require.Error(t, err, name)
		require.Contains(t, err.Error(), "permission denied", name)
	}

	// Without a token: the CA and the CRL, nothing else.
	for _, p := range []string{"ca", "ca/pem", "crl", "crl/pem"} {
		code, _ := rawRequest(t, http.MethodGet, s.addr+"/v1/wg/"+p)
		require.Equal(t, http.StatusOK, code, p)
	}
	for _, p := range []string{"config/ca", "gateways/gw1", "gateways/gw1/peers", "gateways/gw1/status", "roles/laptop", "certs?list=true", "cert/" + serial} {
		code, _ := rawRequest(t, http.MethodGet, s.addr+"/v1/wg/"+p)
		require.Equal(t, http.StatusForbidden, code, p)
	}
	for _, p := range []string{"issue/laptop", "revoke", "tidy", "config/ca", "gateways/gw1/status"} {
		code, _ := rawRequest(t, http.MethodPost, s.addr+"/v1/wg/"+p)
		require.Equal(t, http.StatusForbidden, code, p)
	}

	// A generated key, and every token and secret id of the run, stay out
	// of the audit log.
	gen, err := s.root.Logical().Write("wg/issue/generated", nil)
	require.NoError(t, err)
	secrets = append(secrets, gen.Data["private_key"].(string))
	audit, err := os.ReadFile(auditLog)
	require.NoError(t, err)
	require.Contains(t, string(audit), "wg/issue/laptop", "the audit log saw the run")
	for _, secret := range secrets {
		require.NotContains(t, string(audit), secret)
	}
}

func rawRequest(t *testing.T, method, url string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader("{}"))
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	return resp.StatusCode, fmt.Sprint(resp.Status)
}

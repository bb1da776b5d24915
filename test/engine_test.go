package test

import (
	"encoding/hex"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	vault "github.com/hashicorp/vault/api"
	"github.com/hashicorp/vault/api/auth/approle"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/wgcert"
	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/wgkey"
)

// devicePolicy lets a device issue on the laptop role and nothing else.
const devicePolicy = `path "wg/issue/laptop" { capabilities = ["update"] }`

// setUpEngine configures the CA, the gateway gw1 and the roles laptop and
// generated, as an operator would with the CLI.
func setUpEngine(t *testing.T, s *vaultServer) (gatewayKey string) {
	t.Helper()
	_, gwPub, err := wgkey.Generate()
	require.NoError(t, err)
	s.cli("write", "wg/config/ca", "key_type=ed25519", "common_name=Example WireGuard CA")
	s.cli("write", "wg/gateways/gw1", "endpoint=198.51.100.1:51820", "public_key="+gwPub.String(),
		"address=10.77.0.1,fd77::1", "address_pool=10.77.0.0/16,fd77::/64")
	s.cli("write", "wg/roles/generated", "gateway=gw1", "ttl=1h", "allow_generated_keys=true")
	return gwPub.String()
}

// approleLogin creates an AppRole with policies and logs in with it through
// the approle auth helper, returning the device's client.
func approleLogin(t *testing.T, s *vaultServer, role string, policies string) *vault.Client {
	t.Helper()
	s.cli("write", "auth/approle/role/"+role, "token_policies="+policies, "token_ttl=1h")
	roleID, err := s.root.Logical().Read("auth/approle/role/" + role + "/role-id")
	require.NoError(t, err)
	secret, err := s.root.Logical().Write("auth/approle/role/"+role+"/secret-id", nil)
	require.NoError(t, err)
	auth, err := approle.NewAppRoleAuth(roleID.Data["role_id"].(string),
		&approle.SecretID{FromString: secret.Data["secret_id"].(string)})
	require.NoError(t, err)
	c := s.client("")
	_, err = c.Auth().Login(t.Context(), auth)
	require.NoError(t, err)
	return c
}

func openssl(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("openssl", args...).CombinedOutput()
	require.NoError(t, err, "openssl %s:\n%s", strings.Join(args, " "), out)
	return string(out)
}

// TestEngineOnRealVault walks the user story on a real Vault: an
// AppRole device issues, the certificate checks out with openssl, the
// device's token can do nothing else, and every way of revoking converges.
func TestEngineOnRealVault(t *testing.T) {
	_, err := exec.LookPath("openssl")
	need(t, err == nil, "openssl not on PATH")
	s := startVault(t)
	auditLog := filepath.Join(s.dir, "audit.log")
	s.cli("audit", "enable", "file", "file_path="+auditLog)
	gwKey := setUpEngine(t, s)
	s.cli("auth", "enable", "approle")
	auths, err := s.root.Sys().ListAuth()
	require.NoError(t, err)
	accessor := auths["approle/"].Accessor
	s.cli("write", "wg/roles/laptop", "gateway=gw1", "ttl=8h", "max_ttl=24h",
		fmt.Sprintf("common_name_template={{identity.entity.aliases.%s.metadata.role_name}}", accessor))
	require.NoError(t, s.root.Sys().PutPolicy("device", devicePolicy))
	device := approleLogin(t, s, "laptop-fleet", "device")

	// The mount runs the registered version.
	mounts, err := s.root.Sys().ListMounts()
	require.NoError(t, err)
	require.Equal(t, pluginVersion, mounts["wg/"].RunningVersion)

	// The device issues with its own key.
	devPriv, devPub, err := wgkey.Generate()
	require.NoError(t, err)
	sec, err := device.Logical().Write("wg/issue/laptop", map[string]any{"public_key": devPub.String()})
	require.NoError(t, err)
	serial := sec.Data["serial_number"].(string)
	require.Equal(t, "laptop-fleet", sec.Data["common_name"], "CN from the AppRole role_name")
	require.Equal(t, []any{"10.77.0.2/32", "fd77::2/128"}, sec.Data["addresses"])
	require.Equal(t, gwKey, sec.Data["gateway_public_key"])
	// The lease is what is left of the certificate (its NotAfter is whole
	// seconds from the second the issue began), as pki's leases are.
	require.InDelta(t, 8*3600, sec.LeaseDuration, 1)
	require.LessOrEqual(t, sec.LeaseDuration, 8*3600)
	require.False(t, sec.Renewable)
	require.True(t, strings.HasPrefix(sec.LeaseID, "wg/issue/laptop/"), sec.LeaseID)
	require.Contains(t, sec.Data["wg_quick"], "Address = 10.77.0.2/32, fd77::2/128")
	require.NotContains(t, sec.Data, "private_key")
	_ = devPriv

	// openssl agrees: the chain verifies and the key is the WireGuard key.
	dir := t.TempDir()
	caFile, certFile := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "cert.pem")
	require.NoError(t, os.WriteFile(caFile, []byte(sec.Data["issuing_ca"].(string)), 0o600))
	require.NoError(t, os.WriteFile(certFile, []byte(sec.Data["certificate"].(string)), 0o600))
	require.Contains(t, openssl(t, "verify", "-CAfile", caFile, certFile), "cert.pem: OK")
	text := openssl(t, "x509", "-in", certFile, "-noout", "-text")
	require.Contains(t, text, "X25519 Public-Key")
	require.Contains(t, strings.ReplaceAll(strings.Join(strings.Fields(text), ""), ":", ""), hex.EncodeToString(devPub[:]),
		"openssl shows the same 32 key bytes")
	require.Contains(t, text, "IP Address:10.77.0.2")
	require.Contains(t, text, "URI:"+wgcert.GatewayURI("gw1"))
	require.Contains(t, text, "Subject: CN = laptop-fleet")

	// The device's token can do nothing else.
	for _, try := range []func() error{
		func() error { _, err := device.Logical().Read("wg/config/ca"); return err },
		func() error {
			_, err := device.Logical().Write("wg/issue/generated", map[string]any{})
			return err
		},
		func() error {
			_, err := device.Logical().Write("wg/revoke", map[string]any{"serial_number": serial})
			return err
		},
		func() error { _, err := device.Logical().Read("wg/gateways/gw1/peers"); return err },
	} {
		err := try()
		require.Error(t, err)
		require.Contains(t, err.Error(), "permission denied")
	}
	// And the CA's key is never returned, even to root.
	caRead, err := s.root.Logical().Read("wg/config/ca")
	require.NoError(t, err)
	require.NotContains(t, caRead.Data, "private_key")
	for _, v := range caRead.Data {
		require.NotContains(t, fmt.Sprint(v), "PRIVATE KEY")
	}

	// The gateway's feed lists the device.
	feed, err := s.root.Logical().Read("wg/gateways/gw1/peers")
	require.NoError(t, err)
	require.Len(t, feed.Data["peers"], 1)

	// vault lease revoke: CRL, record, feed and pool all follow. -sync: the
	// CLI otherwise queues the revocation and answers before it is done.
	s.cli("lease", "revoke", "-sync", sec.LeaseID)
	crlPEM := httpGet(t, s.addr+"/v1/wg/crl/pem") // unauthenticated
	crlFile := filepath.Join(dir, "crl.pem")
	require.NoError(t, os.WriteFile(crlFile, crlPEM, 0o600))
	crlText := openssl(t, "crl", "-in", crlFile, "-noout", "-text")
	require.Contains(t, crlSerials(t, crlText), normalizeHex(serial))
	require.Contains(t, openssl(t, "crl", "-in", crlFile, "-noout", "-CAfile", caFile), "verify OK")

	rec, err := s.root.Logical().Read("wg/cert/" + serial)
	require.NoError(t, err)
	require.Equal(t, true, rec.Data["revoked"])
	require.Equal(t, "laptop", rec.Data["role"])
	require.NotEmpty(t, rec.Data["entity_id"])
	feed, err = s.root.Logical().Read("wg/gateways/gw1/peers")
	require.NoError(t, err)
	require.Empty(t, feed.Data["peers"])

	// Token revocation cascades to its leases; so does revoke-prefix.
	sec2, err := device.Logical().Write("wg/issue/laptop", map[string]any{"public_key": mustPub(t)})
	require.NoError(t, err)
	require.Equal(t, []any{"10.77.0.2/32", "fd77::2/128"}, sec2.Data["addresses"], "the address came back to the pool")
	require.NoError(t, device.Auth().Token().RevokeSelf(""))
	requireRevoked(t, s, sec2.Data["serial_number"].(string))

	device = approleLogin(t, s, "laptop-fleet", "device")
	sec3, err := device.Logical().Write("wg/issue/laptop", map[string]any{"public_key": mustPub(t)})
	require.NoError(t, err)
	s.cli("lease", "revoke", "-prefix", "wg/issue/laptop")
	requireRevoked(t, s, sec3.Data["serial_number"].(string))

	// Expiry is a revocation too: the lease ends, the certificate is marked.
	short, err := device.Logical().Write("wg/issue/laptop", map[string]any{"public_key": mustPub(t), "ttl": "2s"})
	require.NoError(t, err)
	require.InDelta(t, 2, short.LeaseDuration, 1)
	require.LessOrEqual(t, short.LeaseDuration, 2)
	require.Eventually(t, func() bool {
		rec, err := s.root.Logical().Read("wg/cert/" + short.Data["serial_number"].(string))
		return err == nil && rec.Data["revoked"] == true
	}, 15*time.Second, 100*time.Millisecond, "the expired lease did not revoke its certificate")

	// A generated key goes to the caller once and never into the audit log.
	gen, err := s.root.Logical().Write("wg/issue/generated", nil)
	require.NoError(t, err)
	privateKey := gen.Data["private_key"].(string)
	require.NotEmpty(t, privateKey)

	// The audit log has every issuance with its serial in clear.
	audit, err := os.ReadFile(auditLog)
	require.NoError(t, err)
	for _, sn := range []string{serial, sec2.Data["serial_number"].(string), sec3.Data["serial_number"].(string), gen.Data["serial_number"].(string)} {
		require.Contains(t, string(audit), `"serial_number":"`+sn+`"`)
	}
	require.NotContains(t, string(audit), privateKey)
}

// requireRevoked waits for the certificate to be marked revoked: Vault
// revokes a revoked token's leases in the background.
func requireRevoked(t *testing.T, s *vaultServer, serial string) {
	t.Helper()
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		rec, err := s.root.Logical().Read("wg/cert/" + serial)
		require.NoError(c, err)
		require.Equal(c, true, rec.Data["revoked"], "certificate %s revoked", serial)
	}, 10*time.Second, 50*time.Millisecond)
}

func mustPub(t *testing.T) string {
	t.Helper()
	_, pub, err := wgkey.Generate()
	require.NoError(t, err)
	return pub.String()
}

func httpGet(t *testing.T, url string) []byte {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "GET %s: %s", url, body)
	return body
}

// crlSerials returns the serials `openssl crl -text` lists, normalised.
func crlSerials(t *testing.T, text string) []string {
	t.Helper()
	var out []string
	for _, line := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "Serial Number: "); ok {
			out = append(out, normalizeHex(v))
		}
	}
	return out
}

// normalizeHex writes a hex serial (with or without colons, any case) as
// lowercase hex without leading zeros.
func normalizeHex(s string) string {
	n, ok := new(big.Int).SetString(strings.ReplaceAll(s, ":", ""), 16)
	if !ok {
		return s
	}
	return n.Text(16)
}

package test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/wgcert"
	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/wgkey"
	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/wgpolicy"
)

// TestAccessPolicyCertificateOnRealVault walks the engine's part of the
// access policy on a real Vault, with the README's commands: a role with
// allowed_destinations through the CLI (a malformed entry is a 400 naming
// it), an issue whose certificate openssl verifies and shows the policy's
// OID, the rules in the answer, in cert/:serial and in the gateway's feed,
// the split-tunnel AllowedIPs, and a change of the role that reaches live
// devices only through revocation by role.
func TestAccessPolicyCertificateOnRealVault(t *testing.T) {
	_, err := exec.LookPath("openssl")
	need(t, err == nil, "openssl not on PATH")
	s := startVault(t)
	setUpEngine(t, s)

	// The README's commands, as written.
	sh := exec.Command("bash", "-euo", "pipefail", "-c", readmeFence(t, "Access policy", "sh"))
	sh.Env = append(os.Environ(), "PATH="+filepath.Dir(s.Bin)+":"+os.Getenv("PATH"),
		"VAULT_ADDR="+s.addr, "VAULT_TOKEN="+s.root.Token(), "VAULT_FORMAT=", "NO_COLOR=1")
	out, err := sh.CombinedOutput()
	require.NoError(t, err, "README's Access policy commands:\n%s", out)
	require.Contains(t, string(out), "10.30.0.53/32:53/udp")
	cliOut, err := s.CLIAs(s.root.Token(), "write", "wg/roles/contractor", "allowed_destinations=10.20.0.0/24,10.30.0.5/32:443/sctp")
	require.Error(t, err)
	require.Contains(t, cliOut, "Code: 400")
	require.Contains(t, cliOut, `allowed_destinations: malformed destination "10.30.0.5/32:443/sctp"`)
	want := []any{"10.20.0.0/24", "10.30.0.5/32:443/tcp", "10.30.0.53/32:53/udp"}
	role, err := s.root.Logical().Read("wg/roles/contractor")
	require.NoError(t, err)
	require.Equal(t, want, role.Data["allowed_destinations"], "the refused write changed nothing")

	_, pub, err := wgkey.Generate()
	require.NoError(t, err)
	sec, err := s.root.Logical().Write("wg/issue/contractor", map[string]any{"public_key": pub.String()})
	require.NoError(t, err)
	require.Equal(t, want, sec.Data["allowed_destinations"])
	require.Equal(t, []any{"10.20.0.0/24", "10.30.0.5/32", "10.30.0.53/32"}, sec.Data["allowed_ips"])
	require.Contains(t, sec.Data["wg_quick"], "\nAllowedIPs = 10.20.0.0/24, 10.30.0.5/32, 10.30.0.53/32\n")
	serial := sec.Data["serial_number"].(string)

	dir := t.TempDir()
	caFile, certFile := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "cert.pem")
	require.NoError(t, os.WriteFile(caFile, []byte(sec.Data["issuing_ca"].(string)), 0o600))
	require.NoError(t, os.WriteFile(certFile, []byte(sec.Data["certificate"].(string)), 0o600))
	require.Contains(t, openssl(t, "verify", "-x509_strict", "-CAfile", caFile, certFile), "cert.pem: OK")
	text := openssl(t, "x509", "-in", certFile, "-noout", "-text")
	require.Contains(t, text, "1.2.840.113556.1.8000.2554.57310.52818.10320.19346.36547.453485.2902469.1: \n")
	require.NotContains(t, text, "2902469.1: critical")

	rec, err := s.root.Logical().Read("wg/cert/" + serial)
	require.NoError(t, err)
	require.Equal(t, want, rec.Data["allowed_destinations"])

	// The gateway reads the rules from the certificate in its feed.
	feed, err := s.root.Logical().Read("wg/gateways/gw1/peers")
	require.NoError(t, err)
	peers := feed.Data["peers"].([]any)
	require.Len(t, peers, 1)
	c, err := wgcert.ParsePEM([]byte(peers[0].(map[string]any)["certificate"].(string)))
	require.NoError(t, err)
	require.True(t, c.HasPolicy)
	require.Equal(t, "10.30.0.5/32:443/tcp", c.Destinations[1].String())
	require.Equal(t, wgpolicy.Key(c.Destinations), wgpolicy.Key(mustParsePolicy(t, want)))

	// A change of the role reaches new certificates; the live one keeps
	// its rules until it is revoked (here by role) and re-issued.
	s.cli("write", "wg/roles/contractor", "allowed_destinations=10.20.0.0/24:icmp")
	rec, err = s.root.Logical().Read("wg/cert/" + serial)
	require.NoError(t, err)
	require.Equal(t, want, rec.Data["allowed_destinations"])
	revoked, err := s.root.Logical().Write("wg/revoke", map[string]any{"role": "contractor"})
	require.NoError(t, err)
	require.Equal(t, []any{serial}, revoked.Data["serial_numbers"])
	sec, err = s.root.Logical().Write("wg/issue/contractor", map[string]any{"public_key": pub.String()})
	require.NoError(t, err)
	require.Equal(t, []any{"10.20.0.0/24:icmp"}, sec.Data["allowed_destinations"])

	// admin may go anywhere, and routes everything into the tunnel.
	sec, err = s.root.Logical().Write("wg/issue/admin", map[string]any{"public_key": pub.String()})
	require.NoError(t, err)
	require.Equal(t, []any{"0.0.0.0/0", "::/0"}, sec.Data["allowed_destinations"])
	require.Equal(t, []any{"0.0.0.0/0", "::/0"}, sec.Data["allowed_ips"])

	// Without allowed_destinations: no extension, the gateway's routes.
	sec, err = s.root.Logical().Write("wg/issue/generated", nil)
	require.NoError(t, err)
	require.Empty(t, sec.Data["allowed_destinations"])
	require.Equal(t, []any{"10.77.0.0/16", "fd77::/64"}, sec.Data["allowed_ips"])
	require.NoError(t, os.WriteFile(certFile, []byte(sec.Data["certificate"].(string)), 0o600))
	require.NotContains(t, openssl(t, "x509", "-in", certFile, "-noout", "-text"), "1.2.840.113556.1.8000.2554")
}

// mustParsePolicy parses the destinations of a JSON answer.
func mustParsePolicy(t *testing.T, entries []any) []wgpolicy.Destination {
	t.Helper()
	var list []string
	for _, e := range entries {
		list = append(list, e.(string))
	}
	ds, err := wgpolicy.Parse(list)
	require.NoError(t, err)
	return ds
}

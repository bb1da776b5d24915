package test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestDeviceRefusesWrappingTokensFromElsewhere: a response-wrapping token in
// the secret id file that Vault says was not made by the AppRole mount's
// secret-id endpoint — anything wrapped with sys/wrapping/wrap, a secret id
// of another AppRole mount — is refused with the path that made it, and
// left unwrapped (it still looks up).
func TestDeviceRefusesWrappingTokensFromElsewhere(t *testing.T) {
	s := startVault(t)
	setUpEngine(t, s)
	s.cli("write", "wg/roles/laptop", "gateway=gw1", "ttl=1h")
	s.cli("auth", "enable", "approle")
	s.cli("auth", "enable", "-path=other", "approle")
	require.NoError(t, s.root.Sys().PutPolicy("device", devicePolicy))
	dir := t.TempDir()
	roleID, _ := appRoleFiles(t, s, dir, "laptop", "device")
	s.cli("write", "auth/other/role/laptop", "token_policies=device")

	for _, tc := range []struct {
		name, creationPath string
		wrap               []string
	}{
		{"sys/wrapping/wrap", "sys/wrapping/wrap", []string{"sys/wrapping/wrap", "secret_id=chosen-by-someone"}},
		{"another AppRole mount", "auth/other/role/laptop/secret-id", []string{"-f", "auth/other/role/laptop/secret-id"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			token := strings.TrimSpace(s.cli(append([]string{"write", "-wrap-ttl=5m", "-field=wrapping_token"}, tc.wrap...)...))
			file := filepath.Join(dir, "wrapped-secret-id")
			require.NoError(t, os.WriteFile(file, []byte(token+"\n"), 0o600))
			_, stderr, code := runDevice(t, []string{"VAULT_ADDR=" + s.addr}, "issue", "-role", "laptop",
				"-config", filepath.Join(dir, "wgdev0.conf"), "-role-id-file", roleID, "-secret-id-file", file)
			require.Equal(t, 1, code, stderr)
			require.Contains(t, stderr, "wg-device: the secret id file "+file+" holds a response-wrapping token, left unwrapped: "+
				`response-wrapping token not made for this login: it was made by "`+tc.creationPath+`", not by auth/approle/role/<role>/secret-id`)
			lookup, err := s.root.Logical().Write("sys/wrapping/lookup", map[string]any{"token": token})
			require.NoError(t, err, "the token was not unwrapped")
			require.Equal(t, tc.creationPath, lookup.Data["creation_path"])
		})
	}
}

// TestGatewayStopsOnRefusedCredentials: wg-gateway with a secret id Vault
// refuses exits at once, non-zero, with an error naming the files to
// check, instead of logging in again and again.
func TestGatewayStopsOnRefusedCredentials(t *testing.T) {
	s := startVault(t)
	setUpEngine(t, s)
	s.cli("auth", "enable", "approle")
	dir := t.TempDir()
	roleID, _ := appRoleFiles(t, s, dir, "gateway-gw1", "default")
	bad := filepath.Join(dir, "bad-secret-id")
	require.NoError(t, os.WriteFile(bad, []byte("00000000-0000-0000-0000-000000000000\n"), 0o600))

	g := startGateway(t, s.addr, "-gateway", "gw1", "-interface", "wgrefused0", "-role-id-file", roleID, "-secret-id-file", bad)
	select {
	case <-g.Exited():
	case <-time.After(30 * time.Second):
		t.Fatalf("wg-gateway still runs 30 s after Vault refused its credentials:\n%s", g.out)
	}
	require.False(t, g.stop(), "exit status 0")
	out := g.out.String()
	require.Contains(t, out, "login refused: approle login at auth/approle: invalid role or secret ID: check "+roleID+" and "+bad)
	require.Equal(t, 0, strings.Count(out, "login failed"), "no login retried:\n%s", out)
}

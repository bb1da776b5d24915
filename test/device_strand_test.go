package test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// liveCerts lists the serials of the certificates the engine has issued
// and not revoked, as `vault list wg/certs` and `vault read wg/cert/:serial`
// show them to an operator.
func liveCerts(t *testing.T, s *vaultServer) []string {
	t.Helper()
	list, err := s.root.Logical().List("wg/certs/")
	require.NoError(t, err)
	live := []string{}
	if list == nil {
		return live
	}
	for _, k := range list.Data["keys"].([]any) {
		rec, err := s.root.Logical().Read("wg/cert/" + k.(string))
		require.NoError(t, err)
		require.NotNil(t, rec, "wg/cert/%s", k)
		if rec.Data["revoked"] != true {
			live = append(live, k.(string))
		}
	}
	return live
}

// serialOf is the serial_number wg-device printed.
func serialOf(t *testing.T, stdout string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^serial_number +(\S+)`).FindStringSubmatch(stdout)
	require.NotNil(t, m, "no serial_number in:\n%s", stdout)
	return m[1]
}

// startDeviceVault starts Vault with the engine, role laptop (1h) and an
// AppRole role laptop whose tokens (2h) may issue on it; it returns the
// files with the role id and a secret id, in dir.
func startDeviceVault(t *testing.T) (s *vaultServer, dir, roleIDFile, secretIDFile string) {
	t.Helper()
	s = startVault(t)
	setUpEngine(t, s)
	s.cli("write", "wg/roles/laptop", "gateway=gw1", "ttl=1h")
	s.cli("auth", "enable", "approle")
	require.NoError(t, s.root.Sys().PutPolicy("device", devicePolicy))
	dir = t.TempDir()
	roleIDFile, secretIDFile = appRoleFiles(t, s, dir, "laptop", "device", "token_ttl=2h")
	return s, dir, roleIDFile, secretIDFile
}

// TestDeviceNeverStrandsCertificates shows that wg-device leaves live only
// the certificates a user expects: none when it cannot install one (it checks
// its outputs before asking for a certificate), and one per wg-quick file,
// however often `issue` runs onto it.
func TestDeviceNeverStrandsCertificates(t *testing.T) {
	s, dir, roleID, secretID := startDeviceVault(t)
	env := []string{"VAULT_ADDR=" + s.addr}
	issue := func(args ...string) (stdout, stderr string, code int) {
		return runDevice(t, env, append([]string{"issue", "-role", "laptop", "-role-id-file", roleID, "-secret-id-file", secretID}, args...)...)
	}

	t.Run("a config directory that does not exist yet is created, 0700", func(t *testing.T) {
		conf := filepath.Join(dir, "etc", "wireguard", "wg0.conf")
		stdout, stderr, code := issue("-config", conf)
		require.Equal(t, 0, code, stderr)
		st, err := os.Stat(filepath.Dir(conf))
		require.NoError(t, err)
		require.Equal(t, os.FileMode(0o700), st.Mode().Perm())
		require.FileExists(t, conf)
		require.Equal(t, []string{serialOf(t, stdout)}, liveCerts(t, s))
		// Leave no certificate live for the cases below.
		_, err = s.root.Logical().Write("wg/revoke", map[string]any{"serial_number": serialOf(t, stdout)})
		require.NoError(t, err)
	})

	t.Run("a config path that cannot be written gets no certificate", func(t *testing.T) {
		notDir := filepath.Join(dir, "plain-file")
		require.NoError(t, os.WriteFile(notDir, []byte("x"), 0o600))
		_, stderr, code := issue("-config", filepath.Join(notDir, "wg0.conf"))
		require.Equal(t, 1, code)
		require.Contains(t, stderr, "wg-device: -config "+filepath.Join(notDir, "wg0.conf")+": ")
		require.Empty(t, liveCerts(t, s), "nothing to install it into, so no certificate")
	})

	t.Run("run onto an interface that does not exist gets no certificate", func(t *testing.T) {
		for range 3 { // a crash-looping restart
			_, stderr, code := runDevice(t, env, "run", "-role", "laptop", "-interface", "wgnosuch0",
				"-role-id-file", roleID, "-secret-id-file", secretID)
			require.Equal(t, 1, code)
			require.Contains(t, stderr, "wg-device: -interface wgnosuch0: no WireGuard interface of that name")
		}
		require.Empty(t, liveCerts(t, s))
	})

	t.Run("a certificate that cannot be installed is revoked", func(t *testing.T) {
		requireNetTools(t)
		// The interface is there, so wg-device asks for a certificate; the
		// gateway's endpoint does not resolve (the namespace has no DNS), so
		// it cannot configure the interface with it.
		_, gwKey, err := wgtypesGenerate()
		require.NoError(t, err)
		s.cli("write", "wg/gateways/far", "endpoint=gw.example.invalid:51820", "public_key="+gwKey.String(),
			"address=10.88.0.1", "address_pool=10.88.0.0/24")
		s.cli("write", "wg/roles/far", "gateway=far", "ttl=1h")
		require.NoError(t, s.root.Sys().PutPolicy("far", `path "wg/issue/far" { capabilities = ["update"] }`))
		farRoleID, farSecretID := appRoleFiles(t, s, dir, "far", "far", "token_ttl=2h")
		ns := newNetns(t)
		w := newWG(t, ns, "", 0)
		ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, "ip", "netns", "exec", ns.name, builtBinary(t, "wg-device"), "issue",
			"-role", "far", "-interface", w.name, "-role-id-file", farRoleID, "-secret-id-file", farSecretID)
		cmd.Env = append(os.Environ(), "VAULT_TOKEN=", "VAULT_ADDR="+vaultSocket(t, s.addr))
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		require.ErrorAs(t, err, &exit, "%s", out)
		require.Equal(t, 1, exit.ExitCode(), "%s", out)
		require.Contains(t, string(out), "gateway endpoint gw.example.invalid:51820")
		require.Contains(t, string(out), "revoked the certificate it could not install")
		require.Empty(t, liveCerts(t, s))
	})

	t.Run("issue onto an existing file retires the certificate it replaces", func(t *testing.T) {
		conf := filepath.Join(dir, "wg1.conf")
		stdout, stderr, code := issue("-config", conf)
		require.Equal(t, 0, code, stderr)
		first := serialOf(t, stdout)
		require.Equal(t, []string{first}, liveCerts(t, s))

		stdout, stderr, code = issue("-config", conf)
		require.Equal(t, 0, code, stderr)
		second := serialOf(t, stdout)
		require.NotEqual(t, first, second)
		require.Equal(t, []string{second}, liveCerts(t, s), "one file, one live certificate")
		require.Contains(t, stderr, "revoked the replaced certificate: serial="+first)
	})
}

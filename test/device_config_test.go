package test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestDeviceVaultAddressMistakes shows that a wrong VAULT_ADDR or a missing
// VAULT_CACERT is a configuration error: wg-device exits at once with a
// message naming the variable, rather than retrying as if Vault were down.
func TestDeviceVaultAddressMistakes(t *testing.T) {
	s := startVault(t)
	setUpEngine(t, s)
	s.cli("write", "wg/roles/laptop", "gateway=gw1", "ttl=1h")
	s.cli("auth", "enable", "approle")
	require.NoError(t, s.root.Sys().PutPolicy("device", devicePolicy))
	dir := t.TempDir()
	roleID, secretID := appRoleFiles(t, s, dir, "laptop", "device")
	issue := func(env ...string) (string, int, time.Duration) {
		start := time.Now()
		_, stderr, code := runDevice(t, env, "issue", "-role", "laptop", "-config", filepath.Join(dir, "wg0.conf"),
			"-role-id-file", roleID, "-secret-id-file", secretID, "-retry-for", "1s")
		return stderr, code, time.Since(start)
	}

	// HTTPS to Vault's HTTP listener (as with Vault's default address when
	// VAULT_ADDR is not set, against a dev server).
	https := "https://" + strings.TrimPrefix(s.addr, "http://")
	stderr, code, took := issue("VAULT_ADDR=" + https)
	require.Equal(t, 2, code, stderr)
	require.Contains(t, stderr, "wg-device: VAULT_ADDR: "+https+" answers plain HTTP, not HTTPS: set VAULT_ADDR="+s.addr)
	require.NotContains(t, stderr, "retrying")
	require.Less(t, took, 2*time.Second, "at once, not after retries")

	// VAULT_ADDR not set: the message says which address that means.
	stderr, code, _ = issue("VAULT_ADDR=", "VAULT_MAX_RETRIES=0")
	require.Contains(t, stderr, "VAULT_ADDR is not set: using Vault's default https://127.0.0.1:8200")
	require.NotEqual(t, 0, code)

	// HTTPS with a certificate from a CA the device does not trust.
	tlsVault, _ := startVaultTLS(t)
	stderr, code, took = issue("VAULT_ADDR="+tlsVault.addr, "VAULT_CACERT=")
	require.Equal(t, 2, code, stderr)
	require.Contains(t, stderr, "wg-device: VAULT_CACERT: the certificate of "+tlsVault.addr+" does not verify")
	require.Contains(t, stderr, "set VAULT_CACERT to the file of the CA that issued Vault's certificate")
	require.NotContains(t, stderr, "retrying")
	require.Less(t, took, 2*time.Second, "at once, not after retries")
}

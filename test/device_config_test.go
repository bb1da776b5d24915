package test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestDeviceVaultAddressMistakes shows that a wrong VAULT_ADDR or a missing
// VAULT_CACERT is a configuration error: wg-device exits at once with a
// message naming the variable, rather than retrying as if Vault were down.
func TestDeviceVaultAddressMistakes(t *testing.T) {
	s, dir, roleID, secretID := startDeviceVault(t)
	// A device that retried would take retryFor at least: "at once" is well
	// under it, however loaded the machine.
	issue := func(retryFor string, env ...string) (string, int, time.Duration) {
		start := time.Now()
		_, stderr, code := runDevice(t, env, "issue", "-role", "laptop", "-config", filepath.Join(dir, "wg0.conf"),
			"-role-id-file", roleID, "-secret-id-file", secretID, "-retry-for", retryFor)
		return stderr, code, time.Since(start)
	}

	// HTTPS to Vault's HTTP listener (as with Vault's default address when
	// VAULT_ADDR is not set, against a dev server).
	https := "https://" + strings.TrimPrefix(s.addr, "http://")
	stderr, code, took := issue("20s", "VAULT_ADDR="+https)
	require.Equal(t, 2, code, stderr)
	require.Contains(t, stderr, "wg-device: VAULT_ADDR: "+https+" answers plain HTTP, not HTTPS: set VAULT_ADDR="+s.addr)
	require.NotContains(t, stderr, "retrying")
	require.Less(t, took, 10*time.Second, "at once, not after retries")

	// VAULT_ADDR not set: the message says which address that means.
	stderr, code, _ = issue("1s", "VAULT_ADDR=", "VAULT_MAX_RETRIES=0")
	require.Contains(t, stderr, "VAULT_ADDR is not set: using Vault's default https://127.0.0.1:8200")
	require.NotEqual(t, 0, code)

	// HTTPS with a certificate from a CA the device does not trust.
	tlsVault, _ := startVaultTLS(t)
	stderr, code, took = issue("20s", "VAULT_ADDR="+tlsVault.addr, "VAULT_CACERT=")
	require.Equal(t, 2, code, stderr)
	require.Contains(t, stderr, "wg-device: VAULT_CACERT: the certificate of "+tlsVault.addr+" does not verify")
	require.Contains(t, stderr, "set VAULT_CACERT to the file of the CA that issued Vault's certificate")
	require.NotContains(t, stderr, "retrying")
	require.Less(t, took, 10*time.Second, "at once, not after retries")
}

// TestDeviceHelp shows that `wg-device -h` lists every flag with its
// environment variable, as the README says: each flag the README's
// wg-device examples use and each flag wg-device accepts; `-version`
// and `version` answer alike.
func TestDeviceHelp(t *testing.T) {
	help, stderr, code := runDevice(t, nil, "-h")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, help, "Usage: wg-device issue|run")
	for _, alias := range []string{"--help", "help"} {
		out, _, code := runDevice(t, nil, alias)
		require.Equal(t, 0, code)
		require.Equal(t, help, out, alias)
	}
	listed := regexp.MustCompile(`(?m)^  -([a-z0-9-]+)  \[(WG_DEVICE_[A-Z0-9_]+)\]$`).FindAllStringSubmatch(help, -1)
	env := map[string]string{}
	for _, m := range listed {
		env[m[1]] = m[2]
	}

	// The flags wg-device accepts: each one, given alone, is not "not defined".
	accepted := []string{"role", "mount", "ttl", "config", "interface", "auth", "approle-mount", "role-id-file",
		"secret-id-file", "k8s-mount", "k8s-role", "k8s-token-file", "cert-mount", "cert-role", "client-cert",
		"client-key", "switch-delay", "retry-for", "crl-interval", "log-level", "log-json"}
	readme, err := os.ReadFile("../README.md")
	require.NoError(t, err)
	_, section, ok := strings.Cut(string(readme), "\n## wg-device\n")
	require.True(t, ok, "README has a wg-device section")
	example, _, _ := strings.Cut(strings.SplitN(section, "```sh\n", 2)[1], "```")
	for _, m := range regexp.MustCompile(` -([a-z0-9-]+)`).FindAllStringSubmatch(example, -1) {
		accepted = append(accepted, m[1])
	}
	for _, name := range accepted {
		want := "WG_DEVICE_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
		require.Equal(t, want, env[name], "wg-device -h lists -%s with its variable", name)
	}
	_, stderr, _ = runDevice(t, nil, "issue", "-no-such-flag")
	require.Contains(t, stderr, "flag provided but not defined: -no-such-flag")
	for name := range env {
		_, stderr, _ := runDevice(t, nil, "issue", "-"+name+"=1")
		require.NotContains(t, stderr, "flag provided but not defined", "-h lists -%s, which wg-device does not accept", name)
	}

	v1, _, code := runDevice(t, nil, "-version")
	require.Equal(t, 0, code)
	v2, _, _ := runDevice(t, nil, "version")
	require.Equal(t, "wg-device "+pluginVersion+"\n", v1)
	require.Equal(t, v1, v2)
}

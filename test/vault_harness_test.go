package test

import (
	"os/exec"
	"testing"

	vault "github.com/hashicorp/vault/api"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/test/internal/harness"
)

// The harness (test/internal/harness) starts the real components; the
// names below adapt it to the tests' words.

// pluginName is the name the plugin is registered under.
const pluginName = harness.PluginName

// pluginVersion is the version the tests build and register.
var pluginVersion = harness.PluginVersion

// syncBuffer collects a process's output from several goroutines.
type syncBuffer = harness.SyncBuffer

// need skips the test for a missing prerequisite, or fails it when
// WG_REQUIRE_ALL is set, so that nothing silently skips in CI.
func need(t *testing.T, ok bool, format string, args ...any) {
	t.Helper()
	harness.Need(t, ok, format, args...)
}

// needCommands calls need for each command in bins: it must be on PATH;
// why says what uses it, or how to install it.
func needCommands(t *testing.T, why string, bins ...string) {
	t.Helper()
	for _, bin := range bins {
		_, err := exec.LookPath(bin)
		need(t, err == nil, "no %s on PATH (%s)", bin, why)
	}
}

// vaultBinary finds the vault binary: $VAULT_BIN, then PATH.
func vaultBinary(t *testing.T) string {
	t.Helper()
	return harness.VaultBinary(t)
}

// builtBinary builds the project's commands once per test run and returns
// the path of the one named.
func builtBinary(t *testing.T, name string) string {
	t.Helper()
	return harness.BuiltBinary(t, name)
}

// freePort returns a free TCP port on loopback.
func freePort(t *testing.T) int {
	t.Helper()
	return harness.FreePort(t)
}

// A vaultServer is a running Vault with the plugin enabled at wg/.
type vaultServer struct {
	*harness.Vault
	t    *testing.T
	addr string
	dir  string
	root *vault.Client
}

// wrapVault gives v the tests' names.
func wrapVault(t *testing.T, v *harness.Vault) *vaultServer {
	return &vaultServer{Vault: v, t: t, addr: v.Addr, dir: v.Dir, root: v.Root}
}

// startVault starts `vault server -dev` on a loopback port with the plugin
// registered (with its sha256 and version) and enabled at wg/.
func startVault(t *testing.T) *vaultServer {
	t.Helper()
	return wrapVault(t, harness.StartVault(t, harness.VaultOptions{}))
}

// client returns an API client for the server with token.
func (s *vaultServer) client(token string) *vault.Client {
	s.t.Helper()
	return s.Client(token)
}

// cli runs the vault CLI with the root token and returns its output; it
// must succeed.
func (s *vaultServer) cli(args ...string) string {
	s.t.Helper()
	return s.CLI(args...)
}

// stop kills the server and its plugins.
func (s *vaultServer) stop() { s.Stop() }

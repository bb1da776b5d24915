package test

import (
	"testing"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/test/internal/harness"
)

// A vaultNode is a non-dev Vault server with storage that survives its
// process: it can be killed and started again, and must be unsealed.
type vaultNode struct {
	*vaultServer
}

// startFileVault starts a Vault server with file storage under a fresh
// directory, initialises it with one unseal key, unseals it, and enables the
// plugin at wg/ as startVault does.
func startFileVault(t *testing.T) *vaultNode {
	t.Helper()
	return &vaultNode{wrapVault(t, harness.StartVault(t, harness.VaultOptions{Storage: harness.File}))}
}

// kill stops the server with SIGKILL, as a crash would: its plugins stay,
// orphaned, until the test's end.
func (n *vaultNode) kill() { n.Kill() }

// restart starts a killed server again and unseals it.
func (n *vaultNode) restart() {
	n.t.Helper()
	n.Restart()
	n.root = n.Root
}

package test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	vault "github.com/hashicorp/vault/api"
	"github.com/stretchr/testify/require"
)

// A vaultNode is a non-dev Vault server with storage that survives its
// process: it can be killed and started again, and must be unsealed.
type vaultNode struct {
	*vaultServer
	config    string
	unsealKey string
}

// startFileVault starts a Vault server with file storage under a fresh
// directory, initialises it with one unseal key, unseals it, and enables the
// plugin at wg/ as startVault does.
func startFileVault(t *testing.T) *vaultNode {
	t.Helper()
	bin := vaultBinary(t)
	dir := t.TempDir()
	pluginDir := filepath.Join(dir, "plugins")
	sum := installPlugin(t, pluginDir)
	port := freePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	config := filepath.Join(dir, "vault.hcl")
	require.NoError(t, os.WriteFile(config, []byte(fmt.Sprintf(`
storage "file" { path = %q }
listener "tcp" {
  address     = %q
  tls_disable = true
}
plugin_directory = %q
api_addr         = "http://%s"
disable_mlock    = true
`, filepath.Join(dir, "data"), addr, pluginDir, addr)), 0o600))

	n := &vaultNode{
		vaultServer: &vaultServer{t: t, bin: bin, dir: dir, addr: "http://" + addr, logs: &bytes.Buffer{}},
		config:      config,
	}
	t.Cleanup(n.stop)
	n.start()

	init, err := n.client("").Sys().Init(&vault.InitRequest{SecretShares: 1, SecretThreshold: 1})
	require.NoError(t, err)
	n.unsealKey = init.Keys[0]
	n.root = n.client(init.RootToken)
	n.unseal()
	n.cli("plugin", "register", "-sha256="+hex.EncodeToString(sum[:]), "-version="+pluginVersion,
		"-command="+pluginName, "secret", pluginName)
	n.cli("secrets", "enable", "-path=wg", "-plugin-version="+pluginVersion, pluginName)
	return n
}

// installPlugin copies the built plugin into dir and returns its sha256.
func installPlugin(t *testing.T, dir string) [32]byte {
	t.Helper()
	require.NoError(t, os.MkdirAll(dir, 0o755))
	data, err := os.ReadFile(builtBinary(t, pluginName))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, pluginName), data, 0o755))
	return sha256.Sum256(data)
}

// start runs the server process; it comes up sealed.
func (n *vaultNode) start() {
	n.t.Helper()
	n.run(exec.Command(n.bin, "server", "-config="+n.config, "-log-level=debug"))
	c := n.client("")
	require.Eventually(n.t, func() bool {
		_, err := c.Sys().SealStatus()
		return err == nil
	}, 30*time.Second, 50*time.Millisecond, "vault did not start listening")
}

// unseal unseals the server and waits until it serves requests.
func (n *vaultNode) unseal() {
	n.t.Helper()
	_, err := n.client("").Sys().Unseal(n.unsealKey)
	require.NoError(n.t, err)
	n.waitUp()
}

// kill stops the server with SIGKILL, as a crash would: its plugins stay,
// orphaned, until the test's end (stop).
func (n *vaultNode) kill() {
	_ = n.cmd.Process.Kill()
	<-n.stopped
}

// restart starts a killed server again and unseals it.
func (n *vaultNode) restart() {
	n.t.Helper()
	n.start()
	n.root = n.client(n.root.Token())
	n.unseal()
}

package test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	vault "github.com/hashicorp/vault/api"
	"github.com/stretchr/testify/require"
)

// A vaultCluster is Vault's own HA on loopback: nodes with integrated
// storage (raft) joined with retry_join, initialised and unsealed by the
// test, the plugin registered on every node.
type vaultCluster struct {
	t     *testing.T
	nodes []*vaultNode
}

// startVaultCluster starts n raft nodes, initialises the first, unseals
// them all, and enables the plugin at wg/.
func startVaultCluster(t *testing.T, n int) *vaultCluster {
	t.Helper()
	bin := vaultBinary(t)
	type addrs struct{ api, cluster string }
	var as []addrs
	for range n {
		as = append(as, addrs{fmt.Sprintf("127.0.0.1:%d", freePort(t)), fmt.Sprintf("127.0.0.1:%d", freePort(t))})
	}
	c := &vaultCluster{t: t}
	var sum [32]byte
	for i, a := range as {
		dir := t.TempDir()
		pluginDir := filepath.Join(dir, "plugins")
		sum = installPlugin(t, pluginDir)
		var joins strings.Builder
		for j, other := range as {
			if j != i {
				fmt.Fprintf(&joins, "  retry_join { leader_api_addr = \"http://%s\" }\n", other.api)
			}
		}
		config := filepath.Join(dir, "vault.hcl")
		require.NoError(t, os.WriteFile(config, []byte(fmt.Sprintf(`
storage "raft" {
  path                   = %q
  node_id                = "node%d"
  performance_multiplier = 1
%s}
listener "tcp" {
  address         = %q
  cluster_address = %q
  tls_disable     = true
}
plugin_directory = %q
api_addr         = "http://%s"
cluster_addr     = "https://%s"
disable_mlock    = true
`, filepath.Join(dir, "raft"), i+1, joins.String(), a.api, a.cluster, pluginDir, a.api, a.cluster)), 0o600))
		require.NoError(t, os.MkdirAll(filepath.Join(dir, "raft"), 0o700))
		node := &vaultNode{
			vaultServer: &vaultServer{t: t, bin: bin, dir: dir, addr: "http://" + a.api, logs: &bytes.Buffer{}},
			config:      config,
		}
		t.Cleanup(node.stop)
		node.start()
		c.nodes = append(c.nodes, node)
	}

	first := c.nodes[0]
	init, err := first.client("").Sys().Init(&vault.InitRequest{SecretShares: 1, SecretThreshold: 1})
	require.NoError(t, err)
	for _, node := range c.nodes {
		node.unsealKey = init.Keys[0]
		node.root = node.client(init.RootToken)
	}
	first.unseal()
	// Joining nodes become voters after the stabilization time (10s by
	// default); a test need not wait that long.
	require.Eventually(t, func() bool {
		_, err := first.root.Logical().Write("sys/storage/raft/autopilot/configuration",
			map[string]any{"server_stabilization_time": "1s"})
		return err == nil
	}, 30*time.Second, 100*time.Millisecond, "the first node never became active")
	for _, node := range c.nodes[1:] {
		// A joining node takes the unseal key once it has joined; retry_join
		// keeps trying in the background.
		require.Eventually(t, func() bool {
			st, err := node.client("").Sys().Unseal(node.unsealKey)
			return err == nil && !st.Sealed
		}, 60*time.Second, 500*time.Millisecond, "node did not join and unseal")
		node.waitUp()
	}
	require.Eventually(t, func() bool {
		cfg, err := first.root.Logical().Read("sys/storage/raft/configuration")
		if err != nil || cfg == nil {
			return false
		}
		servers, _ := cfg.Data["config"].(map[string]any)["servers"].([]any)
		voters := 0
		for _, s := range servers {
			if s.(map[string]any)["voter"] == true {
				voters++
			}
		}
		return voters == n
	}, 60*time.Second, 200*time.Millisecond, "raft cluster did not form with every node a voter")

	leader := c.leader()
	leader.cli("plugin", "register", "-sha256="+hex.EncodeToString(sum[:]), "-version="+pluginVersion,
		"-command="+pluginName, "secret", pluginName)
	leader.cli("secrets", "enable", "-path=wg", "-plugin-version="+pluginVersion, pluginName)
	return c
}

// leader returns the active node, waiting for one.
func (c *vaultCluster) leader() *vaultNode {
	c.t.Helper()
	var active *vaultNode
	require.Eventually(c.t, func() bool {
		active = c.activeNode(nil)
		return active != nil
	}, 60*time.Second, 50*time.Millisecond, "no active node")
	return active
}

// activeNode returns the node that says it is active, skipping except.
func (c *vaultCluster) activeNode(except *vaultNode) *vaultNode {
	for _, n := range c.nodes {
		if n == except || n.dead() {
			continue
		}
		l, err := n.root.Sys().Leader()
		if err == nil && l.IsSelf && l.HAEnabled {
			return n
		}
	}
	return nil
}

// dead reports whether the node's process has exited.
func (n *vaultNode) dead() bool {
	select {
	case <-n.stopped:
		return true
	default:
		return false
	}
}

// anyNode runs op against each live node in turn, from the one at start,
// until one answers without a transport or unavailability error.
func (c *vaultCluster) anyNode(start int, op func(*vault.Client) error) error {
	var err error
	for i := range c.nodes {
		n := c.nodes[(start+i)%len(c.nodes)]
		if n.dead() {
			continue
		}
		if err = op(n.root); err == nil || !retryable(err) {
			return err
		}
	}
	return err
}

// retryable reports whether err means "this node cannot answer now" rather
// than a refusal of the request.
func retryable(err error) bool {
	var re *vault.ResponseError
	if errors.As(err, &re) {
		return re.StatusCode >= 500 || re.StatusCode == 429
	}
	return true // connection refused, reset, timeout
}

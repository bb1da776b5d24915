package harness

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	vault "github.com/hashicorp/vault/api"
	"github.com/stretchr/testify/require"
)

// A Cluster is Vault's own HA on loopback: nodes with integrated storage
// (raft) joined with retry_join, initialised and unsealed by the harness,
// the plugin registered on every node.
type Cluster struct {
	tb TB
	// Nodes are the cluster's servers, node1 first.
	Nodes []*Vault
}

// StartCluster starts n raft nodes as opts say (its Storage is ignored),
// initialises the first, unseals them all, waits until every node is a
// voter, and registers and enables the plugin through the leader.
func StartCluster(tb TB, n int, opts VaultOptions) *Cluster {
	tb.Helper()
	opts.Storage = Raft
	type addrs struct{ api, cluster string }
	var as []addrs
	for range n {
		as = append(as, addrs{fmt.Sprintf("127.0.0.1:%d", FreePort(tb)), fmt.Sprintf("127.0.0.1:%d", FreePort(tb))})
	}
	c := &Cluster{tb: tb}
	multiplier := max(1, opts.RaftPerformanceMultiplier)
	for i, a := range as {
		nodeOpts := opts
		if opts.NodeLog != nil {
			nodeOpts.Log = opts.NodeLog(i)
		}
		node := newVault(tb, nodeOpts)
		node.Addr = "http://" + a.api
		var joins strings.Builder
		for j, other := range as {
			if j != i {
				fmt.Fprintf(&joins, "  retry_join { leader_api_addr = \"http://%s\" }\n", other.api)
			}
		}
		raftDir := filepath.Join(node.Dir, "raft")
		require.NoError(tb, os.MkdirAll(raftDir, 0o700))
		node.writeConfig(fmt.Sprintf(`
storage "raft" {
  path                   = %q
  node_id                = "node%d"
  performance_multiplier = %d
%s}
listener "tcp" {
  address         = %q
  cluster_address = %q
  tls_disable     = true
}
api_addr     = "http://%s"
cluster_addr = "https://%s"
`, raftDir, i+1, multiplier, joins.String(), a.api, a.cluster, a.api, a.cluster))
		node.start()
		c.Nodes = append(c.Nodes, node)
	}

	first := c.Nodes[0]
	first.initialize()
	for _, node := range c.Nodes[1:] {
		node.UnsealKey = first.UnsealKey
		node.Root = node.Client(first.Root.Token())
	}
	first.Unseal()
	// Joining nodes become voters after the stabilization time (10s by
	// default); a test need not wait that long.
	require.Eventually(tb, func() bool {
		_, err := first.Root.Logical().Write("sys/storage/raft/autopilot/configuration",
			map[string]any{"server_stabilization_time": "1s"})
		return err == nil
	}, 30*time.Second, 100*time.Millisecond, "the first node never became active")
	for _, node := range c.Nodes[1:] {
		// A joining node takes the unseal key once it has joined; retry_join
		// keeps trying in the background.
		require.Eventually(tb, func() bool {
			st, err := node.Client("").Sys().Unseal(node.UnsealKey)
			return err == nil && !st.Sealed
		}, 60*time.Second, 500*time.Millisecond, "node did not join and unseal")
		node.WaitUp()
	}
	require.Eventually(tb, func() bool {
		cfg, err := first.Root.Logical().Read("sys/storage/raft/configuration")
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

	leader := c.Leader()
	leader.registerPlugin()
	leader.enable()
	return c
}

// Leader returns the active node, waiting for one.
func (c *Cluster) Leader() *Vault {
	c.tb.Helper()
	var active *Vault
	require.Eventually(c.tb, func() bool {
		active = c.ActiveNode(nil)
		return active != nil
	}, 60*time.Second, 50*time.Millisecond, "no active node")
	return active
}

// ActiveNode returns the live node that says it is active, skipping
// except, or nil.
func (c *Cluster) ActiveNode(except *Vault) *Vault {
	for _, n := range c.Nodes {
		if n == except || n.Dead() {
			continue
		}
		l, err := n.Root.Sys().Leader()
		if err == nil && l.IsSelf && l.HAEnabled {
			return n
		}
	}
	return nil
}

// AnyNode runs op against each live node in turn, from the one at start,
// until one answers without a transport or unavailability error.
func (c *Cluster) AnyNode(start int, op func(*vault.Client) error) error {
	var err error
	for i := range c.Nodes {
		n := c.Nodes[(start+i)%len(c.Nodes)]
		if n.Dead() {
			continue
		}
		if err = op(n.Root); err == nil || !Retryable(err) {
			return err
		}
	}
	return err
}

// Retryable reports whether err means "this node cannot answer now" rather
// than a refusal of the request.
func Retryable(err error) bool {
	var re *vault.ResponseError
	if errors.As(err, &re) {
		return re.StatusCode >= 500 || re.StatusCode == 429
	}
	return true // connection refused, reset, timeout
}

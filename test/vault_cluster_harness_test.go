package test

import (
	"testing"

	vault "github.com/hashicorp/vault/api"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/test/internal/harness"
)

// A vaultCluster is Vault's own HA on loopback: raft nodes, the plugin
// enabled at wg/.
type vaultCluster struct {
	*harness.Cluster
	t     *testing.T
	nodes []*vaultNode
}

// startVaultCluster starts n raft nodes, initialises the first, unseals
// them all, and enables the plugin at wg/.
func startVaultCluster(t *testing.T, n int) *vaultCluster {
	t.Helper()
	return startVaultClusterWith(t, n, harness.VaultOptions{})
}

// startVaultClusterWith is startVaultCluster with the nodes' options.
func startVaultClusterWith(t *testing.T, n int, opts harness.VaultOptions) *vaultCluster {
	t.Helper()
	c := &vaultCluster{Cluster: harness.StartCluster(t, n, opts), t: t}
	for _, v := range c.Nodes {
		c.nodes = append(c.nodes, &vaultNode{wrapVault(t, v)})
	}
	return c
}

// node is the tests' node for v (nil for nil).
func (c *vaultCluster) node(v *harness.Vault) *vaultNode {
	for _, n := range c.nodes {
		if n.Vault == v {
			return n
		}
	}
	return nil
}

// leader returns the active node, waiting for one.
func (c *vaultCluster) leader() *vaultNode {
	c.t.Helper()
	return c.node(c.Leader())
}

// activeNode returns the node that says it is active, skipping except.
func (c *vaultCluster) activeNode(except *vaultNode) *vaultNode {
	var skip *harness.Vault
	if except != nil {
		skip = except.Vault
	}
	return c.node(c.ActiveNode(skip))
}

// anyNode runs op against each live node in turn, from the one at start,
// until one answers without a transport or unavailability error.
func (c *vaultCluster) anyNode(start int, op func(*vault.Client) error) error {
	return c.AnyNode(start, op)
}

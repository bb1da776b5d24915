package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/test/internal/harness"
)

// p9Nodes is the size of P9's raft cluster.
const p9Nodes = 3

// A p9Cluster is P9's Vault: three raft nodes on loopback, each reachable
// as a vaultServer with the root token "root" (made for the bench's
// helpers, which call as rootToken).
type p9Cluster struct {
	*harness.Cluster
	servers map[*harness.Vault]*vaultServer
	pprof   string // the plugin's pprof listener, in profile mode
}

// startP9Cluster starts the cluster with the run's plugin, with raw storage
// reads (for sys/raw sizes) and the dev server's request limit.
func (b *bench) startP9Cluster() (*p9Cluster, error) {
	dir := filepath.Join(b.p.Out, "vault-p9")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	logFile, err := os.Create(filepath.Join(dir, "vault.log"))
	if err != nil {
		return nil, err
	}
	atExit(func() { _ = logFile.Close() }) // after the nodes have stopped
	opts := harness.VaultOptions{
		Bin:    b.bins.vault,
		Plugin: b.bins.plugin,
		Config: "raw_storage_endpoint = true\ndefault_max_request_duration = \"30m\"\n",
		// info: the log shows raft's snapshots and leader changes, to set
		// beside the rounds' times.
		LogLevel: "info",
		Log:      logFile,
		Mount:    harness.NoMount,
		// Vault's default raft timing: with the tests' fastest one, a
		// leader starved of CPU for half a second on a loaded machine
		// loses its quorum in the middle of the growth.
		RaftPerformanceMultiplier: 5,
	}
	// Each node's collections are told apart: the active node's, which
	// holds the leases, are set beside the rounds.
	traces := make([]*gcTrace, p9Nodes)
	opts.NodeLog = func(i int) io.Writer {
		traces[i] = newGCTrace(logFile)
		return traces[i]
	}
	opts.Env = []string{gcTraceEnv}
	c := &p9Cluster{servers: map[*harness.Vault]*vaultServer{}}
	if b.p.Profile {
		var pp int
		if err := try(func() { pp = harness.FreePort(b.tb) }); err != nil {
			return nil, err
		}
		// Only the active node runs the plugin: one listener at a time.
		c.pprof = fmt.Sprintf("127.0.0.1:%d", pp)
		opts.PluginEnv = []string{"WG_BENCH_PPROF=" + c.pprof}
	}
	if b.p.PluginEnv != "" {
		opts.PluginEnv = append(opts.PluginEnv, strings.Split(b.p.PluginEnv, ",")...)
	}
	start := time.Now()
	if err := try(func() { c.Cluster = harness.StartCluster(b.tb, p9Nodes, opts) }); err != nil {
		return nil, fmt.Errorf("start raft cluster (log %s): %w", logFile.Name(), err)
	}
	for i, n := range c.Nodes {
		c.servers[n] = &vaultServer{Vault: n, addr: n.Addr, http: b.vault.http, pprof: c.pprof, gc: traces[i]}
	}
	leader, err := c.active(nil)
	if err != nil {
		return nil, err
	}
	// The bench's helpers call as "root", the dev server's root token.
	if _, err := leader.CLIAs(leader.Root.Token(), "token", "create", "-id="+rootToken, "-policy=root", "-orphan"); err != nil {
		return nil, fmt.Errorf("root token for the bench: %w", err)
	}
	logf("P9 raft cluster of %d nodes up in %s, active node %s (log %s)", p9Nodes, time.Since(start).Round(time.Millisecond), leader.addr, logFile.Name())
	return c, nil
}

// active is the server of the active node other than except, waiting up
// to a minute for one.
func (c *p9Cluster) active(except *vaultServer) (*vaultServer, error) {
	var skip *harness.Vault
	if except != nil {
		skip = except.Vault
	}
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if n := c.ActiveNode(skip); n != nil {
			return c.servers[n], nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil, fmt.Errorf("no active node for a minute")
}

// dbBytes is the size of a node's raft FSM, its BoltDB file vault.db: the
// pages in use, the B+tree's slack and free pages included. Bolt grows the
// file to its high-water mark plus up to 16 MB (its AllocSize).
func dbBytes(s *vaultServer) (int64, error) {
	st, err := os.Stat(filepath.Join(s.Dir, "raft", "vault.db"))
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

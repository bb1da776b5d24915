package backend

import (
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
	"github.com/stretchr/testify/require"
)

// TestReloadKeepsState: a new backend over the same storage (a plugin
// restart or a leader change) loads the same certificates, feeds and CRL.
func TestReloadKeepsState(t *testing.T) {
	env := newTestEnv(t)
	kept := env.issue("alice")
	gone := env.issue("bob")
	env.revokeLease(gone)
	before := env.peers("0")

	// A new backend over the same storage: a plugin restart or leader change.
	conf := logical.TestBackendConfig()
	conf.System = env.sys
	conf.StorageView = env.storage
	be, err := NewFactory("v1.2.3")(t.Context(), conf)
	require.NoError(t, err)
	require.NoError(t, be.Initialize(t.Context(), &logical.InitializationRequest{Storage: env.storage}))
	env.b = be.(*backend)

	after := env.peers(itoa(before.Index))
	require.True(t, after.Full, "an index from before the restart gets the full set")
	require.Greater(t, after.Index, before.Index, "revisions keep growing across restarts")
	require.Len(t, after.Peers, 1)
	require.Equal(t, kept.Data["serial_number"], after.Peers[0].SerialNumber)
	require.True(t, env.crlSerials()[gone.Data["serial_number"].(string)])

	// The live address stays taken, the revoked one is reused.
	next := env.issue("carol")
	require.Equal(t, gone.Data["addresses"], next.Data["addresses"])
	require.NotEqual(t, kept.Data["addresses"], next.Data["addresses"])
}

// A mount loading its records holds the plugin's memory limit off
// (WithLoadHold) from the start of the load to its end, once.
func TestLoadHoldsTheMemoryLimit(t *testing.T) {
	env := newTestEnv(t)
	env.issue("alice")
	var held, released atomic.Int32
	hold := func() func() {
		held.Add(1)
		return func() { released.Add(1) }
	}
	conf := logical.TestBackendConfig()
	conf.System = env.sys
	conf.StorageView = env.storage
	be, err := NewFactory("v1.2.3", WithLoadHold(hold))(t.Context(), conf)
	require.NoError(t, err)
	require.NoError(t, be.Initialize(t.Context(), &logical.InitializationRequest{Storage: env.storage}))
	env.b = be.(*backend)
	require.Len(t, env.peers("0").Peers, 1) // waits for the load
	require.EqualValues(t, 1, held.Load())
	require.EqualValues(t, 1, released.Load())
	env.peers("0")
	require.EqualValues(t, 1, held.Load(), "a loaded mount held it again")
}

// BenchmarkRegistryLoad measures a mount's start: loading every record
// from storage (here in memory, so without the gRPC hop of a real
// plugin), WG_BENCH_PEERS of them (default 50,000):
//
//	go test ./backend -run '^$' -bench RegistryLoad -benchtime 5x
func BenchmarkRegistryLoad(b *testing.B) {
	peers := 50000
	if s := os.Getenv("WG_BENCH_PEERS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			b.Fatalf("WG_BENCH_PEERS: %v", err)
		}
		peers = n
	}
	t := &testing.T{} // the helpers want one; a failure panics instead
	env := newTestEnv(t)
	env.t = t
	for range peers {
		if _, err := env.do(logical.UpdateOperation, "issue/laptop", map[string]any{"public_key": mustKey(t)}); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for range b.N {
		r := newRegistry(time.Now)
		if err := r.load(b.Context(), env.storage); err != nil {
			b.Fatal(err)
		}
		if n := r.liveCount("gw1"); n != peers {
			b.Fatalf("%d live after the load, want %d", n, peers)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*peers), "µs/record")
}

// TestMaxActiveEvictsOldestAfterReload: a mount that restarted still knows
// which of an identity's certificates is the oldest. The registry keeps an
// identity's serials oldest first; the load must too, whatever order
// storage lists them in (by serial: random) or the reads finish in. (A
// record keeps its issue time to the second: the certificates here are a
// second apart.)
func TestMaxActiveEvictsOldestAfterReload(t *testing.T) {
	env := newTestEnv(t)
	const n = 8
	env.ok(logical.UpdateOperation, "roles/laptop", map[string]any{"max_active_per_identity": n})
	var serials []string
	start := time.Now().Add(-time.Minute)
	for i := range n {
		env.b.clock.set(func() time.Time { return start.Add(time.Duration(i) * time.Second) })
		serials = append(serials, env.issue("alice").Data["serial_number"].(string))
	}
	env.reload() // a new backend, on the real clock
	for i := range n {
		env.issue("alice")
		for j, s := range serials {
			require.Equal(t, j <= i, env.revoked(s), "after %d more issues: revoked(#%d, the %s oldest)", i+1, j, ordinal(j+1))
		}
	}
}

func ordinal(n int) string {
	switch n {
	case 1:
		return "1st"
	case 2:
		return "2nd"
	case 3:
		return "3rd"
	}
	return strconv.Itoa(n) + "th"
}

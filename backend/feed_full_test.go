package backend

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
	"github.com/stretchr/testify/require"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/peerfeed"
)

// A full answer is built once per revision: readers arriving while it is
// being built wait for that build, later readers of the same revision get
// the same bytes, and a change of the revision makes the next full read
// build again.
func TestFullAnswerSharedPerRevision(t *testing.T) {
	env := newTestEnv(t)
	env.issue("alice")
	env.issue("bob")
	var builds atomic.Int32
	building, release := make(chan struct{}), make(chan struct{})
	env.b.reg.buildHook = func() {
		if builds.Add(1) == 1 {
			close(building)
			<-release
		}
	}
	const readers = 4
	bodies := make([]string, readers)
	var wg sync.WaitGroup
	read := func(i int) {
		defer wg.Done()
		resp, err := env.do(logical.ReadOperation, "gateways/gw1/peers", nil)
		if err == nil && resp != nil {
			bodies[i], _ = resp.Data[logical.HTTPRawBody].(string)
		}
	}
	wg.Add(1)
	go read(0)
	select {
	case <-building:
	case <-time.After(10 * time.Second):
		require.FailNow(t, "the full read never started building")
	}
	for i := 1; i < readers; i++ {
		wg.Add(1)
		go read(i)
	}
	// The others wait for that build (or build their own: the count
	// tells).
	require.Eventually(t, func() bool { return builds.Load() > 1 || waiters(env) == readers-1 }, 10*time.Second, time.Millisecond)
	close(release)
	wg.Wait()
	require.EqualValues(t, 1, builds.Load(), "concurrent full reads of one revision built the answer more than once")
	for i := range bodies {
		require.NotEmpty(t, bodies[i])
		require.Equal(t, bodies[0], bodies[i])
	}

	resp, err := env.do(logical.ReadOperation, "gateways/gw1/peers", nil)
	require.NoError(t, err)
	require.Equal(t, bodies[0], string(feedBody(t, resp)))
	require.EqualValues(t, 1, builds.Load(), "a later full read of the same revision built it again")

	env.issue("carol")
	resp, err = env.do(logical.ReadOperation, "gateways/gw1/peers", nil)
	require.NoError(t, err)
	require.EqualValues(t, 2, builds.Load(), "the revision moved but the old full answer was served")
	var got peersEnvelope
	require.NoError(t, json.Unmarshal(feedBody(t, resp), &got))
	require.Len(t, got.Data.Peers, 3)
}

// waiters counts the readers waiting for gw1's full answer being built.
func waiters(env *testEnv) int {
	env.b.reg.mu.Lock()
	defer env.b.reg.mu.Unlock()
	if f := env.b.reg.gateways["gw1"]; f != nil && f.full != nil {
		return int(f.full.waiting.Load())
	}
	return 0
}

// encodeFull writes the bytes json.Marshal gives for the same answer, with
// peers and without, its certificates as PEM or as DER.
func TestEncodeFullAsMarshal(t *testing.T) {
	env := newTestEnv(t)
	pool := []string{"10.0.0.0/24"}
	check := func() {
		t.Helper()
		for _, der := range []bool{false, true} {
			snap := env.b.reg.poll(context.Background(), "gw1", 0, 0)
			require.True(t, snap.resp.Full)
			resp := snap.answer(der)
			slices.SortFunc(resp.Peers, func(a, b peerfeed.Peer) int { return strings.Compare(a.SerialNumber, b.SerialNumber) }) // encodeFull sorts by serial
			resp.AddressPool = pool
			want, err := json.Marshal(peersEnvelope{&resp})
			require.NoError(t, err)
			snap.resp.AddressPool = pool
			got, err := encodeFull(snap, nil, der)
			require.NoError(t, err)
			require.Equal(t, string(want), string(got), "der=%v", der)
		}
	}
	check()
	for _, who := range []string{"alice", "bob", "carol", "dave"} {
		env.issue(who)
	}
	check()
}

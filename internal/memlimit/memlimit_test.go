package memlimit

import (
	"context"
	"math"
	"runtime/debug"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const mib = 1 << 20

func TestLimit(t *testing.T) {
	p := Policy{Growth: 2, Floor: 128 * mib, Margin: 16 * mib, Transient: 64 * mib}
	for name, c := range map[string]struct{ resting, live, want uint64 }{
		// Few certificates: the floor, far above GOGC's own goal.
		"small heap": {resting: 10 * mib, live: 12 * mib, want: 128 * mib},
		// At rest: twice the live heap and the margin, above GOGC's goal
		// (twice live), so no collection comes sooner than without it.
		"at rest": {resting: 60 * mib, live: 60 * mib, want: 136 * mib},
		// Pages in flight are live: they do not raise the limit.
		"transient": {resting: 60 * mib, live: 100 * mib, want: 136 * mib},
		// A live heap far above rest (an unpaged full read): twice it
		// less the transient, near what GOGC=100 lets it reach.
		"grown": {resting: 60 * mib, live: 400 * mib, want: 736 * mib},
	} {
		t.Run(name, func(t *testing.T) {
			require.Equal(t, c.want/mib, p.Limit(c.resting, c.live)/mib)
		})
	}
}

// The resting heap is the smallest of the window's samples; older ones
// leave it.
func TestWindowSmallest(t *testing.T) {
	t0 := time.Unix(1e9, 0)
	w := window{span: 10 * time.Second}
	steps := []struct {
		after time.Duration
		live  uint64
		want  uint64
	}{
		{0, 60, 60},
		{time.Second, 90, 60}, // a transient
		{2 * time.Second, 70, 60},
		{10 * time.Second, 80, 60},  // 60 is 10 s old: still in
		{11 * time.Second, 85, 70},  // 60 left; 70 (at 2 s) is the smallest
		{13 * time.Second, 100, 80}, // 70 left
		{14 * time.Second, 50, 50},  // a smaller one replaces every larger
		{30 * time.Second, 55, 55},  // alone after a gap: the newest stays
	}
	for i, s := range steps {
		require.Equal(t, s.want, w.add(t0.Add(s.after), s.live), "step %d", i)
	}
	require.Len(t, w.samples, 1)
}

// The controller sets a limit first, then only when it moved by more than
// 1/32.
func TestObserveSetsOnChange(t *testing.T) {
	c := NewController(Policy{Growth: 2, Floor: 128 * mib, Margin: 32 * mib, Window: 10 * time.Second})
	t0 := time.Unix(1e9, 0)
	limit, ok := c.Observe(t0, 10*mib)
	require.True(t, ok)
	require.EqualValues(t, 128*mib, limit)
	_, ok = c.Observe(t0.Add(time.Second), 11*mib)
	require.False(t, ok, "the floor again")
	limit, ok = c.Observe(t0.Add(12*time.Second), 60*mib)
	require.True(t, ok)
	require.EqualValues(t, 152*mib, limit)
	_, ok = c.Observe(t0.Add(30*time.Second), 61*mib)
	require.False(t, ok, "2 MiB more of 152 is less than 1/32")
}

// What the controller sets as the live heap moves, collection after
// collection, a quarter of a second apart.
func TestObserveFollowsTheHeap(t *testing.T) {
	t0 := time.Unix(1e9, 0)
	for name, c := range map[string]struct {
		live []uint64 // MiB, one per collection
		hold []bool   // a Hold is on at that collection
		want []uint64 // the limit in force after each, MiB
	}{
		// Feed pages in flight above a resting 60 MiB: the limit stays
		// at twice the rest and the margin, so the collector takes them
		// sooner instead of letting the heap reach twice them.
		"transients": {
			live: []uint64{60, 60, 95, 88, 100, 92, 97, 60},
			want: []uint64{136, 136, 136, 136, 136, 136, 136, 136},
		},
		// Far above the rest at once (an old daemon's unpaged read):
		// twice it less the transient; once it is gone the limit comes
		// down by 1/16 per observation, not at once.
		"spike": {
			live: []uint64{60, 400, 460, 60, 60, 60},
			want: []uint64{136, 736, 856, 802, 752, 705},
		},
		// A mount loading (a Hold): what is live is the rest, paced as
		// GOGC=100 paces it; once the load is over, the rest is where
		// it ended.
		"load": {
			live: []uint64{60, 75, 94, 118, 118, 118},
			hold: []bool{true, true, true, true, false, false},
			want: []uint64{136, 166, 204, 252, 252, 252},
		},
	} {
		t.Run(name, func(t *testing.T) {
			ctl := NewController(Policy{Growth: 2, Floor: 128 * mib, Margin: 16 * mib, Transient: 64 * mib, Window: 10 * time.Second})
			var got []uint64
			release := func() {}
			for i, live := range c.live {
				if i < len(c.hold) && c.hold[i] && (i == 0 || !c.hold[i-1]) {
					release = ctl.Hold()
				}
				if i < len(c.hold) && !c.hold[i] && i > 0 && c.hold[i-1] {
					release()
				}
				limit, _ := ctl.Observe(t0.Add(time.Duration(i)*250*time.Millisecond), live*mib)
				got = append(got, limit/mib)
			}
			require.Equal(t, c.want, got)
		})
	}
}

// A nil controller (none runs) holds nothing; a release twice releases once.
func TestHold(t *testing.T) {
	var none *Controller
	none.Hold()()
	c := NewController(PluginPolicy())
	r1, r2 := c.Hold(), c.Hold()
	r1()
	r1()
	require.EqualValues(t, 1, c.holds.Load())
	r2()
	require.Zero(t, c.holds.Load())
}

func TestEnabled(t *testing.T) {
	env := func(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }
	require.True(t, Enabled(env(nil)))
	require.False(t, Enabled(env(map[string]string{"GOGC": "50"})))
	require.False(t, Enabled(env(map[string]string{"GOMEMLIMIT": "160MiB"})))
}

// Run sets the process's limit, and leaves none when it stops.
func TestRunSetsTheLimit(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		NewController(Policy{Growth: 2, Floor: 4096 * mib, Margin: 32 * mib, Window: time.Second, Every: time.Millisecond}).Run(ctx)
	}()
	require.Eventually(t, func() bool { return debug.SetMemoryLimit(-1) == 4096*mib }, 10*time.Second, time.Millisecond)
	cancel()
	<-done
	require.EqualValues(t, int64(math.MaxInt64), debug.SetMemoryLimit(-1))
}

// Start sets the policy's GOGC and runs a controller, unless the
// environment tunes the collector: then it changes nothing.
func TestStart(t *testing.T) {
	gcBefore := debug.SetGCPercent(100)
	defer debug.SetGCPercent(gcBefore)
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	p := Policy{GCPercent: 300, Growth: 2, Floor: 2048 * mib, Every: time.Millisecond}

	for _, name := range []string{"GOGC", "GOMEMLIMIT"} {
		t.Run(name, func(t *testing.T) {
			t.Setenv(name, "200")
			debug.SetMemoryLimit(math.MaxInt64)
			require.Nil(t, Start(t.Context(), p))
			require.Equal(t, 100, debug.SetGCPercent(100), "GOGC changed")
			require.EqualValues(t, int64(math.MaxInt64), debug.SetMemoryLimit(-1), "the limit changed")
		})
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	require.NotNil(t, Start(ctx, p))
	require.Equal(t, 300, debug.SetGCPercent(300))
	require.Eventually(t, func() bool { return debug.SetMemoryLimit(-1) == 2048*mib }, 10*time.Second, time.Millisecond)
}

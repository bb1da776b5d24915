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
	p := Policy{Floor: 128 * mib, Margin: 16 * mib}
	for name, c := range map[string]struct{ resting, live, want uint64 }{
		// Few certificates: the floor, far above GOGC's own goal.
		"small heap": {resting: 10 * mib, live: 12 * mib, want: 128 * mib},
		// At rest: twice the live heap and the margin, above GOGC's goal
		// (twice live), so no collection comes sooner than without it.
		"at rest": {resting: 60 * mib, live: 60 * mib, want: 136 * mib},
		// Pages in flight are live: they do not raise the limit.
		"transient": {resting: 60 * mib, live: 100 * mib, want: 136 * mib},
		// A live heap far above rest (an unpaged full read, a mount
		// loading): a quarter over what is live, never under it.
		"grown": {resting: 60 * mib, live: 400 * mib, want: 500 * mib},
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
	c := NewController(Policy{Floor: 128 * mib, Margin: 32 * mib, Window: 10 * time.Second})
	t0 := time.Unix(1e9, 0)
	limit, ok := c.Observe(t0, 1, 10*mib)
	require.True(t, ok)
	require.EqualValues(t, 128*mib, limit)
	_, ok = c.Observe(t0.Add(time.Second), 2, 11*mib)
	require.False(t, ok, "the floor again")
	limit, ok = c.Observe(t0.Add(12*time.Second), 3, 60*mib)
	require.True(t, ok)
	require.EqualValues(t, 152*mib, limit)
	_, ok = c.Observe(t0.Add(30*time.Second), 4, 61*mib)
	require.False(t, ok, "2 MiB more of 152 is less than 1/32")
}

// What the controller sets as the live heap moves, collection after
// collection, a quarter of a second apart.
func TestObserveFollowsTheHeap(t *testing.T) {
	t0 := time.Unix(1e9, 0)
	for name, c := range map[string]struct {
		live []uint64 // MiB, one per collection
		want []uint64 // the limit in force after each, MiB
	}{
		// Feed pages in flight above a resting 60 MiB: the limit stays
		// at twice the rest and the margin, so the collector takes them
		// sooner instead of letting the heap reach twice them.
		"transients": {
			live: []uint64{60, 60, 95, 88, 100, 92, 97, 60},
			want: []uint64{136, 136, 136, 136, 136, 136, 136, 136},
		},
		// A mount loading: after three collections in a row each found
		// an eighth more, the heap is taken as grown and paced as
		// GOGC=100 would pace it (twice it and the margin).
		"growth": {
			live: []uint64{60, 75, 94, 118, 147, 184, 184},
			want: []uint64{136, 136, 136, 252, 310, 384, 384},
		},
		// Far above the rest at once (an old daemon's unpaged read): a
		// quarter over it at first, then paced as grown; once it is gone
		// the limit comes down by 1/16 per observation, not at once.
		"spike": {
			live: []uint64{60, 400, 460, 530, 610, 60, 60, 60},
			want: []uint64{136, 500, 575, 1076, 1236, 1158, 1086, 1018},
		},
	} {
		t.Run(name, func(t *testing.T) {
			ctl := NewController(Policy{Floor: 128 * mib, Margin: 16 * mib, Window: 10 * time.Second})
			var got []uint64
			for i, live := range c.live {
				limit, _ := ctl.Observe(t0.Add(time.Duration(i)*250*time.Millisecond), uint64(i+1), live*mib)
				got = append(got, limit/mib)
			}
			require.Equal(t, c.want, got)
		})
	}
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
		NewController(Policy{Floor: 4096 * mib, Margin: 32 * mib, Window: time.Second, Every: time.Millisecond}).Run(ctx)
	}()
	require.Eventually(t, func() bool { return debug.SetMemoryLimit(-1) == 4096*mib }, 10*time.Second, time.Millisecond)
	cancel()
	<-done
	require.EqualValues(t, int64(math.MaxInt64), debug.SetMemoryLimit(-1))
}

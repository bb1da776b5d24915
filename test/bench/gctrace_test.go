package main

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestGCLineCPU(t *testing.T) {
	cpu, ok := gcLineCPU("gc 128 @60.617s 9%: 0.50+475+0.085 ms clock, 1.0+0.18/248/374+0.17 ms cpu, 807->835->356 MB, 948 MB goal, 0 MB stacks, 2 MB globals, 2 P")
	require.True(t, ok)
	require.InDelta(t, 623.35, float64(cpu)/float64(time.Millisecond), 0.001)
	for _, line := range []string{
		"2026-11-26T02:58:46.000Z [WARN]  core: gc of something",
		"gc 3 @0.035s 9%: garbled",
		"",
	} {
		_, ok := gcLineCPU(line)
		require.False(t, ok, line)
	}
}

// TestGCTraceLinesAcrossWrites: a report split over writes counts once,
// when its line is complete, and everything is passed on as written.
func TestGCTraceLinesAcrossWrites(t *testing.T) {
	var out bytes.Buffer
	g := newGCTrace(&out)
	start := time.Now()
	for _, p := range []string{
		"==> Vault server started\ngc 1 @0.008s 5%: 0.026+1.3+0.067 ms clock, 0.05+0.43/0.42/0.82+0.13 ms cpu, 3->4->2 MB",
		", 4 MB goal, 2 P\ngc 2 @0.017s 10%: 0.02+4.0+0.002 ms clock, 1+2/3/4+5 ms cpu, 6->7->6 MB, 7 MB goal, 2 P\n",
	} {
		_, err := g.Write([]byte(p))
		require.NoError(t, err)
	}
	u := g.between(start, time.Now())
	require.Equal(t, 2, u.N)
	require.InDelta(t, 16.85, float64(u.CPU)/float64(time.Millisecond), 0.001)
	require.Contains(t, out.String(), "4 MB goal, 2 P\ngc 2")
	require.Zero(t, g.between(start.Add(-time.Hour), start.Add(-time.Minute)).N)
}

package gateway

import (
	"context"
	"runtime/debug"
	runtimemetrics "runtime/metrics"
	"time"
)

// The daemon's garbage collection, unless its environment sets GOGC or
// GOMEMLIMIT (then the operator's setting is the collector's).
//
// A cold start allocates far more than it keeps (each page's entries,
// each certificate parsed), and what it keeps, the peer state, is most of
// what is live. Go's default (GOGC=100) lets the heap grow to twice what
// is live before it collects: 101–107 MB of RSS at 50,000 peers with
// rules. GOGC=50 alone brought that to 75–86 MB but made small heaps
// collect often: at 10,000 peers a quarter of the daemon's CPU to
// converge (P4: 290–330 ms with GOGC=50, 220–230 ms without those
// collections). So a small heap is paced by gcPercent (it may triple),
// and a soft memory limit (debug.SetMemoryLimit) keeps a large one near
// what GOGC=50 allowed: memoryLimit of its live heap, never under
// memoryFloor. followHeap moves the limit as the live heap grows.
const (
	// gcPercent is GOGC for small heaps.
	gcPercent = 200
	// memoryFloor is the least soft memory limit: what a heap paced by
	// gcPercent reaches from about 21 MiB live.
	memoryFloor = 64 << 20
	// followEvery is how often followHeap reads the live heap.
	followEvery = 250 * time.Millisecond
)

// tuneGC sets gcPercent and the soft memory limit of an empty heap unless
// lookup (os.LookupEnv) finds GOGC or GOMEMLIMIT set, and reports whether
// it did: the limit then follows the live heap (followHeap).
func tuneGC(lookup func(string) (string, bool)) bool {
	for _, name := range []string{"GOGC", "GOMEMLIMIT"} {
		if _, set := lookup(name); set {
			return false
		}
	}
	debug.SetGCPercent(gcPercent)
	debug.SetMemoryLimit(memoryLimit(0))
	return true
}

// memoryLimit is the soft memory limit for a live heap of live bytes: half
// as much again (as GOGC=50 lets it grow), at least memoryFloor.
func memoryLimit(live uint64) int64 {
	return max(memoryFloor, int64(live+live/2))
}

// followHeap sets the soft memory limit from the live heap every
// followEvery until ctx is done, so that a heap grown past memoryFloor's
// reach is paced as GOGC=50 paces it instead of being collected back to
// back under a limit it outgrew.
func followHeap(ctx context.Context) {
	sample := []runtimemetrics.Sample{{Name: "/gc/heap/live:bytes"}}
	t := time.NewTicker(followEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		runtimemetrics.Read(sample)
		if sample[0].Value.Kind() == runtimemetrics.KindUint64 {
			debug.SetMemoryLimit(memoryLimit(sample[0].Value.Uint64()))
		}
	}
}

package gateway

import (
	"context"
	"math"
	"runtime/debug"
	"testing"
	"time"
)

func TestTuneGC(t *testing.T) {
	before := debug.SetGCPercent(100)
	defer debug.SetGCPercent(before)
	limitBefore := debug.SetMemoryLimit(math.MaxInt64)
	defer debug.SetMemoryLimit(limitBefore)

	if !tuneGC(func(string) (string, bool) { return "", false }) {
		t.Error("without GOGC or GOMEMLIMIT in the environment: the limit does not follow the heap")
	}
	if got := debug.SetGCPercent(100); got != gcPercent {
		t.Errorf("without GOGC in the environment: GOGC %d, want %d", got, gcPercent)
	}
	if got := debug.SetMemoryLimit(math.MaxInt64); got != memoryFloor {
		t.Errorf("without GOMEMLIMIT in the environment: limit %d, want %d", got, memoryFloor)
	}
	for _, name := range []string{"GOGC", "GOMEMLIMIT"} {
		if tuneGC(func(n string) (string, bool) { return "200", n == name }) {
			t.Errorf("with %s in the environment: the limit follows the heap", name)
		}
		if got := debug.SetGCPercent(100); got != 100 {
			t.Errorf("with %s in the environment (the runtime read it at start): GOGC changed to %d", name, got)
		}
		if got := debug.SetMemoryLimit(math.MaxInt64); got != math.MaxInt64 {
			t.Errorf("with %s in the environment: the memory limit changed to %d", name, got)
		}
	}
}

// TestMemoryLimit: a small live heap gets the floor (gcPercent paces it),
// a large one half as much again, as GOGC=50 lets it grow.
func TestMemoryLimit(t *testing.T) {
	const mib = 1 << 20
	for _, tt := range []struct {
		live uint64
		want int64
	}{
		{0, memoryFloor},
		{10 * mib, memoryFloor},
		{42 * mib, memoryFloor},
		{44 * mib, 66 * mib},
		{200 * mib, 300 * mib},
	} {
		if got := memoryLimit(tt.live); got != tt.want {
			t.Errorf("memoryLimit(%d MiB) = %d MiB, want %d MiB", tt.live/mib, got/mib, tt.want/mib)
		}
	}
}

// TestFollowHeap: followHeap sets the limit from the live heap until its
// context ends.
func TestFollowHeap(t *testing.T) {
	before := debug.SetMemoryLimit(math.MaxInt64)
	defer debug.SetMemoryLimit(before)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		followHeap(ctx)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for debug.SetMemoryLimit(-1) == math.MaxInt64 {
		if time.Now().After(deadline) {
			t.Fatal("the limit was not set within 10 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := debug.SetMemoryLimit(-1); got < memoryFloor {
		t.Errorf("limit %d, under the floor %d", got, memoryFloor)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("followHeap did not return after its context ended")
	}
}

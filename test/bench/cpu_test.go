package main

import (
	"os"
	"testing"
	"time"
)

// TestProcCPU: the CPU time read from /proc/<pid>/stat grows while the
// process computes, and the machine's busy time with it.
func TestProcCPU(t *testing.T) {
	self := os.Getpid()
	start, busy := procCPU(self), machineBusy()
	if busy <= 0 {
		t.Fatalf("machineBusy = %v, want > 0", busy)
	}
	deadline := time.Now().Add(10 * time.Second)
	x := 0
	for procCPU(self)-start < 5*clockTick {
		if time.Now().After(deadline) {
			t.Fatalf("procCPU of a busy process grew by %v in 10 s", procCPU(self)-start)
		}
		for i := range 1_000_000 {
			x += i
		}
	}
	if machineBusy() <= busy {
		t.Errorf("machineBusy did not grow while this process computed (%d)", x)
	}
	if procCPU(-1) != 0 {
		t.Errorf("procCPU of no process = %v, want 0", procCPU(-1))
	}
}

package gateway

import (
	"runtime/debug"
	"testing"
)

func TestTuneGC(t *testing.T) {
	before := debug.SetGCPercent(100)
	defer debug.SetGCPercent(before)

	tuneGC(func(string) (string, bool) { return "", false })
	if got := debug.SetGCPercent(100); got != gcPercent {
		t.Errorf("without GOGC in the environment: GOGC %d, want %d", got, gcPercent)
	}
	tuneGC(func(name string) (string, bool) { return "200", name == "GOGC" })
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("with GOGC=200 in the environment (the runtime read it at start): GOGC changed to %d", got)
	}
}

package main

import (
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/test/internal/harness"
)

// A runTB adapts the bench to the harness's harness.TB: what the harness
// starts is stopped at exit (atExit), and a fatal error of the harness
// becomes an error of the call made through try.
type runTB struct {
	mu     sync.Mutex
	failed bool
	last   string // the last error reported
}

// harnessFailure is what a runTB panics with to leave the harness; try
// recovers it.
type harnessFailure struct{ msg string }

func (f harnessFailure) Error() string { return f.msg }

// try runs f, which calls the harness with tb, and returns the harness's
// fatal error as an error.
func try(f func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			hf, ok := r.(harnessFailure)
			if !ok {
				panic(r)
			}
			err = hf
		}
	}()
	f()
	return nil
}

// Cleanup runs f at exit or Ctrl-C.
func (tb *runTB) Cleanup(f func()) { atExit(f) }

// Errorf logs an error and marks the run failed.
func (tb *runTB) Errorf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	logf("%s", msg)
	tb.mu.Lock()
	defer tb.mu.Unlock()
	tb.failed, tb.last = true, msg
}

// Fatalf leaves the harness call with the error.
func (tb *runTB) Fatalf(format string, args ...any) {
	tb.mu.Lock()
	tb.failed = true
	tb.mu.Unlock()
	panic(harnessFailure{fmt.Sprintf(format, args...)})
}

// FailNow leaves the harness call with the last error reported.
func (tb *runTB) FailNow() {
	tb.mu.Lock()
	msg := tb.last
	tb.failed = true
	tb.mu.Unlock()
	panic(harnessFailure{msg})
}

// Failed reports whether an error was reported.
func (tb *runTB) Failed() bool {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return tb.failed
}

// Helper does nothing: a log line of the bench has no caller to hide.
func (tb *runTB) Helper() {}

// Logf prints a progress line.
func (tb *runTB) Logf(format string, args ...any) { logf(format, args...) }

// Skipf is a failure: a prerequisite of the bench is missing.
func (tb *runTB) Skipf(format string, args ...any) {
	tb.Fatalf("missing prerequisite: "+format, args...)
}

// TempDir makes a directory removed at exit.
func (tb *runTB) TempDir() string {
	dir, err := os.MkdirTemp("", "wg-bench-")
	if err != nil {
		tb.Fatalf("temporary directory: %v", err)
	}
	atExit(func() { _ = os.RemoveAll(dir) })
	return dir
}

// killLeftovers waits for the processes of this run (marked with marker
// or running from binDir) to end after the cleanups, then kills and
// reports those still alive: the bench leaves nothing behind either.
func killLeftovers(marker, binDir string) {
	for _, p := range harness.WaitLeftovers(marker, binDir, time.Now().Add(harness.LeftoverGrace)) {
		logf("killing pid %d left after the run (%s): %s", p.Pid, p.Why, p.Cmdline)
		_ = syscall.Kill(p.Pid, syscall.SIGKILL)
	}
}

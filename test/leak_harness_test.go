package test

import (
	"fmt"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/test/internal/harness"
)

// TestMain runs the package's tests, then fails the run when a process a
// test started is still alive: a Vault, a plugin of a Vault killed with
// SIGKILL, a wg-gateway, a wireguard-go. Whatever it finds it reports and
// kills, so that a failing run does not leave it behind either.
func TestMain(m *testing.M) {
	marker, err := harness.MarkRun()
	if err != nil {
		fmt.Fprintln(os.Stderr, "run marker:", err)
		os.Exit(2)
	}
	code := m.Run()
	left := harness.WaitLeftovers(marker, harness.BuildDir(), time.Now().Add(harness.LeftoverGrace))
	if len(left) > 0 {
		fmt.Fprintf(os.Stderr, "FAIL: %d processes started by this test run are still running after its tests:\n", len(left))
		for _, p := range left {
			fmt.Fprintf(os.Stderr, "  pid %d (%s): %s\n", p.Pid, p.Why, p.Cmdline)
			_ = syscall.Kill(p.Pid, syscall.SIGKILL)
		}
		code = 1
	}
	if err := harness.RemoveBuildDir(); err != nil {
		fmt.Fprintln(os.Stderr, "remove the built binaries:", err)
	}
	os.Exit(code)
}

// TestLeftoversSeesAChild checks the check: a child started with the
// marker is found until it is killed and reaped.
func TestLeftoversSeesAChild(t *testing.T) {
	marker := harness.RunMarkerEnv + "=" + os.Getenv(harness.RunMarkerEnv)
	p, err := os.StartProcess("/bin/sleep", []string{"sleep", "60"}, &os.ProcAttr{Env: os.Environ()})
	if err != nil {
		t.Fatal(err)
	}
	found := func() bool {
		for _, l := range harness.Leftovers(marker, "") {
			if l.Pid == p.Pid {
				return true
			}
		}
		return false
	}
	if !found() {
		_ = p.Kill()
		_, _ = p.Wait()
		t.Fatalf("the child %d with %s is not seen", p.Pid, marker)
	}
	_ = p.Kill()
	_, _ = p.Wait()
	if found() {
		t.Fatalf("the child %d is seen after it was reaped", p.Pid)
	}
}

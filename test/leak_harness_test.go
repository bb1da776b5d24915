package test

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// runMarkerEnv is set, to a value of its own, in the environment of every
// test binary run; every process a test starts inherits it (Vault passes its
// environment on to its plugins), so that the check at the end can tell this
// run's processes from those of runs in other worktrees on the machine.
const runMarkerEnv = "WG_TEST_RUN"

// leftoverGrace is how long the end-of-run check waits for processes that
// were just signalled to go away.
const leftoverGrace = 10 * time.Second

// TestMain runs the package's tests, then fails the run when a process a
// test started is still alive: a Vault, a plugin of a Vault killed with
// SIGKILL, a wg-gateway, a wireguard-go. Whatever it finds it reports and
// kills, so that a failing run does not leave it behind either.
func TestMain(m *testing.M) {
	marker := make([]byte, 16)
	if _, err := rand.Read(marker); err != nil {
		fmt.Fprintln(os.Stderr, "run marker:", err)
		os.Exit(2)
	}
	token := hex.EncodeToString(marker)
	if err := os.Setenv(runMarkerEnv, token); err != nil {
		fmt.Fprintln(os.Stderr, "run marker:", err)
		os.Exit(2)
	}
	code := m.Run()
	left := waitLeftovers(runMarkerEnv+"="+token, buildDir, time.Now().Add(leftoverGrace))
	if len(left) > 0 {
		fmt.Fprintf(os.Stderr, "FAIL: %d processes started by this test run are still running after its tests:\n", len(left))
		for _, p := range left {
			fmt.Fprintf(os.Stderr, "  pid %d (%s): %s\n", p.pid, p.why, p.cmdline)
			_ = syscall.Kill(p.pid, syscall.SIGKILL)
		}
		code = 1
	}
	if buildDir != "" {
		_ = os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// A leftover is a live process of this test run.
type leftover struct {
	pid     int
	why     string
	cmdline string
}

// waitLeftovers returns the live processes that carry marker in their
// environment or run an executable from binDir, waiting until deadline for
// them to exit.
func waitLeftovers(marker, binDir string, deadline time.Time) []leftover {
	for {
		left := leftovers(marker, binDir)
		if len(left) == 0 || time.Now().After(deadline) {
			return left
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// leftovers scans /proc once; see waitLeftovers. Zombies are dead and do
// not count; nor does this process.
func leftovers(marker, binDir string) []leftover {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return []leftover{{why: "cannot read /proc: " + err.Error()}}
	}
	var out []leftover
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		dir := filepath.Join("/proc", e.Name())
		if zombie(dir) {
			continue
		}
		why := ""
		if env, err := os.ReadFile(filepath.Join(dir, "environ")); err == nil && hasEnv(env, marker) {
			why = "started by this run"
		}
		if exe, err := os.Readlink(filepath.Join(dir, "exe")); err == nil && binDir != "" &&
			strings.HasPrefix(strings.TrimSuffix(exe, " (deleted)"), binDir+string(filepath.Separator)) {
			why = "runs " + exe
		}
		if why == "" {
			continue
		}
		cmdline, _ := os.ReadFile(filepath.Join(dir, "cmdline"))
		out = append(out, leftover{pid: pid, why: why, cmdline: strings.TrimSpace(string(bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '})))})
	}
	return out
}

// zombie reports whether the process at dir has exited and waits to be
// reaped (or has vanished meanwhile).
func zombie(dir string) bool {
	stat, err := os.ReadFile(filepath.Join(dir, "stat"))
	if err != nil {
		return true
	}
	// pid (comm) state ...: comm may hold spaces and parentheses.
	i := bytes.LastIndexByte(stat, ')')
	return i < 0 || i+2 >= len(stat) || stat[i+2] == 'Z' || stat[i+2] == 'X'
}

// hasEnv reports whether the NUL-separated environment env holds kv.
func hasEnv(env []byte, kv string) bool {
	for _, v := range bytes.Split(env, []byte{0}) {
		if string(v) == kv {
			return true
		}
	}
	return false
}

// TestLeftoversSeesAChild checks the check: a child started with the
// marker is found until it is killed and reaped.
func TestLeftoversSeesAChild(t *testing.T) {
	marker := runMarkerEnv + "=" + os.Getenv(runMarkerEnv)
	p, err := os.StartProcess("/bin/sleep", []string{"sleep", "60"}, &os.ProcAttr{Env: os.Environ()})
	if err != nil {
		t.Fatal(err)
	}
	found := func() bool {
		for _, l := range leftovers(marker, "") {
			if l.pid == p.Pid {
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

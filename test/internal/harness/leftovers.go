package harness

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// RunMarkerEnv is set, to a value of its own, in the environment of a run
// (a test binary, the benchmark); every process the run starts inherits it
// (Vault passes its environment on to its plugins), so that the check at
// the end can tell this run's processes from those of runs in other
// worktrees on the machine.
const RunMarkerEnv = "WG_TEST_RUN"

// LeftoverGrace is how long a run's end waits for processes that were
// just signalled to go away.
const LeftoverGrace = 10 * time.Second

// MarkRun sets RunMarkerEnv to a fresh random value in this process's
// environment and returns the "NAME=value" that Leftovers looks for.
func MarkRun() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	token := hex.EncodeToString(b)
	if err := os.Setenv(RunMarkerEnv, token); err != nil {
		return "", err
	}
	return RunMarkerEnv + "=" + token, nil
}

// A Leftover is a live process of this run.
type Leftover struct {
	Pid     int
	Why     string
	Cmdline string
}

// WaitLeftovers returns the live processes that carry marker in their
// environment or run an executable from binDir, waiting until deadline for
// them to exit.
func WaitLeftovers(marker, binDir string, deadline time.Time) []Leftover {
	for {
		left := Leftovers(marker, binDir)
		if len(left) == 0 || time.Now().After(deadline) {
			return left
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Leftovers scans /proc once; see WaitLeftovers. Zombies are dead and do
// not count; nor does this process.
func Leftovers(marker, binDir string) []Leftover {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return []Leftover{{Why: "cannot read /proc: " + err.Error()}}
	}
	var out []Leftover
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
		out = append(out, Leftover{Pid: pid, Why: why, Cmdline: strings.TrimSpace(string(bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '})))})
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

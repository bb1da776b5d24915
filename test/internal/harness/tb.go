package harness

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// A TB is what the harness needs of a test: *testing.T and *testing.B
// satisfy it, and a program that is not a test can adapt its own error
// handling to it. Fatalf, FailNow and Skipf must not return.
type TB interface {
	Cleanup(func())
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
	FailNow()
	Failed() bool
	Helper()
	Logf(format string, args ...any)
	Skipf(format string, args ...any)
	TempDir() string
}

// RequireAllEnv is the environment variable that turns a missing
// prerequisite from a skip into a failure (set in CI).
const RequireAllEnv = "WG_REQUIRE_ALL"

// Need skips the test for a missing prerequisite, or fails it when
// WG_REQUIRE_ALL is set, so that nothing silently skips in CI.
func Need(tb TB, ok bool, format string, args ...any) {
	tb.Helper()
	if ok {
		return
	}
	msg := fmt.Sprintf(format, args...)
	if os.Getenv(RequireAllEnv) != "" {
		tb.Fatalf("missing prerequisite (%s is set): %s", RequireAllEnv, msg)
	}
	tb.Skipf("missing prerequisite: %s", msg)
}

// VaultBinary finds the vault binary: $VAULT_BIN, then PATH.
func VaultBinary(tb TB) string {
	tb.Helper()
	if p := os.Getenv("VAULT_BIN"); p != "" {
		return p
	}
	p, err := exec.LookPath("vault")
	Need(tb, err == nil, "no vault binary: run scripts/get-vault.sh and set VAULT_BIN, or use make test")
	return p
}

// build is the one build of the project's commands per process.
var build struct {
	once sync.Once
	dir  string
	err  error
}

// BuiltBinary builds the project's commands (./cmd/...) once per process,
// with the version PluginVersion, and returns the path of the one named.
func BuiltBinary(tb TB, name string) string {
	tb.Helper()
	build.once.Do(func() {
		root, err := RepoRoot()
		if err != nil {
			build.err = err
			return
		}
		if build.dir, build.err = os.MkdirTemp("", "wg-test-bin-"); build.err != nil {
			return
		}
		cmd := exec.Command("go", "build", "-ldflags", "-X main.version="+PluginVersion,
			"-o", build.dir+"/", "./cmd/...")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			build.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if build.err != nil {
		tb.Fatalf("%v", build.err)
	}
	return filepath.Join(build.dir, name)
}

// BuildDir is the directory BuiltBinary built into, "" before the first
// build. The leftover check counts any process running from it.
func BuildDir() string { return build.dir }

// RemoveBuildDir removes what BuiltBinary built.
func RemoveBuildDir() error {
	if build.dir == "" {
		return nil
	}
	return os.RemoveAll(build.dir)
}

// RepoRoot is the directory holding go.mod, from the working directory up.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory")
		}
		dir = parent
	}
}

// FreePort returns a free TCP port on loopback.
func FreePort(tb TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// UniqueName returns prefix followed by 8 random hex digits: with a prefix
// of 3 characters, 11 in all, short enough for an interface name (at most
// 15).
func UniqueName(tb TB, prefix string) string {
	tb.Helper()
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		tb.Fatalf("random name: %v", err)
	}
	return prefix + hex.EncodeToString(b)
}

// A SyncBuffer collects a process's output from several goroutines.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p to the buffer.
func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns what was written so far.
func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// StopGroup sends SIGTERM to the process group pgid and waits until exited
// is closed; after grace it sends SIGKILL and waits again.
func StopGroup(pgid int, exited <-chan struct{}, grace time.Duration) {
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(grace):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-exited
	}
}

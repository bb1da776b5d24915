package test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// demoPrefix starts the name of everything scripts/demo.sh creates outside
// its temporary directory; none of it may be left after it exits.
const demoPrefix = "wgdemo"

// requireDemoTools calls need() for what `make demo` uses.
func requireDemoTools(t *testing.T) {
	t.Helper()
	requireNetTools(t)
	needCommands(t, "the demo needs it", "wg", "make", "go")
}

// startDemo starts scripts/demo.sh in its own process group (as a terminal
// runs a foreground job), non-interactive, with the test's Vault binary
// and a free port for Vault.
func startDemo(t *testing.T, out *syncBuffer, extraEnv ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("../scripts/demo.sh")
	cmd.Env = append(os.Environ(), append([]string{"DEMO_NONINTERACTIVE=1", "VAULT_BIN=" + vaultBinary(t),
		"DEMO_VAULT_PORT=" + strconv.Itoa(freePort(t)), "VAULT_TOKEN=", "VAULT_ADDR="}, extraEnv...)...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	require.NoError(t, cmd.Start())
	return cmd
}

// waitDemo waits for the demo to exit, killing it after timeout, and
// returns its exit code.
func waitDemo(t *testing.T, cmd *exec.Cmd, out *syncBuffer, timeout time.Duration) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return exit.ExitCode()
		}
		require.NoError(t, err)
		return 0
	case <-time.After(timeout):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		t.Fatalf("the demo did not finish in %v:\n%s", timeout, out)
		return -1
	}
}

// requireNoDemoLeftovers checks that the demo removed its namespaces,
// links, WireGuard sockets and process list.
func requireNoDemoLeftovers(t *testing.T) {
	t.Helper()
	netns, err := exec.Command("ip", "netns", "list").CombinedOutput()
	require.NoError(t, err)
	require.NotContains(t, string(netns), demoPrefix, "namespaces left")
	links, err := exec.Command("ip", "-brief", "link").CombinedOutput()
	require.NoError(t, err)
	require.NotContains(t, string(links), demoPrefix, "links left")
	socks, err := filepath.Glob(filepath.Join(wgSocketDir, demoPrefix+"*"))
	require.NoError(t, err)
	require.Empty(t, socks, "WireGuard sockets left")
	_, err = os.Stat("/run/" + demoPrefix + ".pids")
	require.ErrorIs(t, err, os.ErrNotExist, "process list left")
}

// TestDemo runs `make demo`'s script as CI does (DEMO_NONINTERACTIVE=1):
// every step checks itself, so exit 0 means the device pinged through the
// tunnel, `vault lease revoke` cut it off and the gateway's status showed
// the revocation enforced. It runs twice in a row, and once more
// interrupted with Ctrl-C, leaving nothing behind each time.
func TestDemo(t *testing.T) {
	requireDemoTools(t)
	for run := 1; run <= 2; run++ {
		out := &syncBuffer{}
		var env []string
		if run == 2 {
			env = append(env, "DEMO_SKIP_BUILD=1") // built by the first run
		}
		start := time.Now()
		code := waitDemo(t, startDemo(t, out, env...), out, 4*time.Minute)
		require.Equal(t, 0, code, "demo run %d failed:\n%s", run, out)
		t.Logf("demo run %d took %v", run, time.Since(start).Round(100*time.Millisecond))
		text := out.String()
		require.NotContains(t, text, "Warning", "demo run %d prints no warning (wg genkey warns of a key file others can read)", run)
		for _, want := range []string{
			"✔ the gateway has the device as its peer",
			"✔ ping 10.77.0.1 from the device: through WireGuard, on a certificate",
			"✔ the device's pings go unanswered: it is cut off",
			"✔ enforced=true: every gateway instance has applied the current revision; no live peers",
			"common_name=laptop", // named after the device's AppRole
			"Demo complete.",
		} {
			require.Contains(t, text, want, "demo run %d", run)
		}
		for _, line := range strings.Split(text, "\n") {
			if strings.Contains(line, "the gateway dropped the device") {
				t.Logf("demo run %d: %s", run, strings.TrimSpace(line))
			}
		}
		requireNoDemoLeftovers(t)
	}

	// Ctrl-C once the tunnel is up: the demo cleans up and exits 130.
	out := &syncBuffer{}
	cmd := startDemo(t, out, "DEMO_SKIP_BUILD=1")
	// At once, while it waits for the first ping: the clean-up's messages
	// must not go where that wait's output goes (/dev/null).
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "== 7.") }, 2*time.Minute, 5*time.Millisecond,
		"the demo never got to the tunnel:\n%s", out)
	require.NoError(t, syscall.Kill(-cmd.Process.Pid, syscall.SIGINT))
	require.Equal(t, 130, waitDemo(t, cmd, out, time.Minute), "interrupted demo:\n%s", out)
	require.Contains(t, out.String(), "Cleaning up")
	requireNoDemoLeftovers(t)
}

// pathWithout returns a directory to use as PATH holding every command of
// the test's PATH except those named, plus the scripts given (name →
// content).
func pathWithout(t *testing.T, without []string, scripts map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	skip := map[string]bool{}
	for _, name := range without {
		skip[name] = true
	}
	for name, content := range scripts {
		skip[name] = true
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(content), 0o755))
	}
	for _, d := range filepath.SplitList(os.Getenv("PATH")) {
		entries, err := os.ReadDir(d)
		if err != nil {
			continue
		}
		for _, e := range entries {
			link := filepath.Join(dir, e.Name())
			if skip[e.Name()] {
				continue
			}
			if _, err := os.Lstat(link); err == nil {
				continue // an earlier PATH entry wins
			}
			require.NoError(t, os.Symlink(filepath.Join(d, e.Name()), link))
		}
	}
	return dir
}

// TestDemoPrerequisites shows what `make demo` says before it starts: run
// by another user than root, it says to run it as root (these machines
// have no sudo); missing packages are installed with apt-get after an
// apt-get update (a fresh container has empty package lists), and only
// those the README lists.
func TestDemoPrerequisites(t *testing.T) {
	need(t, os.Geteuid() == 0, "switching to user nobody needs root")
	out := &syncBuffer{}
	cmd := exec.Command("../scripts/demo.sh")
	cmd.Env = append(os.Environ(), "DEMO_NONINTERACTIVE=1")
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	err := cmd.Run()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit, "%s", out)
	require.Equal(t, 1, exit.ExitCode(), "%s", out)
	require.Contains(t, out.String(), "run as root")
	require.NotContains(t, out.String(), "sudo")

	// wireguard-go (and openssl, which the demo does not use) missing: apt-get (a stand-in that records its
	// arguments and fails) is asked to update, then to install it.
	record := filepath.Join(t.TempDir(), "apt-get.log")
	path := pathWithout(t, []string{"wireguard-go", "openssl"}, map[string]string{
		"apt-get": "#!/bin/sh\necho \"$*\" >>" + record + "\n[ \"$1\" = update ] || exit 100\n",
	})
	out = &syncBuffer{}
	cmd = exec.Command("../scripts/demo.sh")
	cmd.Env = append(os.Environ(), "DEMO_NONINTERACTIVE=1", "PATH="+path)
	cmd.Stdout, cmd.Stderr = out, out
	err = cmd.Run()
	require.ErrorAs(t, err, &exit, "%s", out)
	calls, err := os.ReadFile(record)
	require.NoError(t, err, "apt-get was not called:\n%s", out)
	lines := strings.Split(strings.TrimSpace(string(calls)), "\n")
	require.Len(t, lines, 2, "%s", calls)
	require.Regexp(t, `^update\b`, lines[0])
	require.Regexp(t, `^install -y( -\S+)* wireguard-go$`, lines[1], "only what is missing, nothing the README does not list")
	requireNoDemoLeftovers(t)
}

package test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A devServer is `make dev` running as a user starts it: in its own process
// group, as a terminal runs a foreground job.
type devServer struct {
	cmd    *exec.Cmd
	out    *syncBuffer
	exited chan struct{}
	err    error // cmd.Wait's, once exited is closed
	// addr is the VAULT_ADDR it serves; work the directory it printed as
	// holding the server log (its plugin directory is inside).
	addr, work string
}

// startMakeDev runs `make dev` in the repository with VAULT_DEV_ADDR on a
// free port and the test's Vault binary, and waits until it says the server
// is ready. The server is stopped with Ctrl-C at the end of the test.
func startMakeDev(t *testing.T) *devServer {
	t.Helper()
	needCommands(t, "make dev and its examples need it", "make", "go", "wg")
	port := freePort(t)
	d := &devServer{out: &syncBuffer{}, exited: make(chan struct{}), addr: "http://127.0.0.1:" + strconv.Itoa(port)}
	d.cmd = exec.Command("make", "--no-print-directory", "dev")
	d.cmd.Dir = ".."
	d.cmd.Env = append(os.Environ(), "VAULT_BIN="+vaultBinary(t), "VAULT_DEV_ADDR=127.0.0.1:"+strconv.Itoa(port),
		"VAULT_ADDR=", "VAULT_TOKEN=")
	d.cmd.Stdout, d.cmd.Stderr = d.out, d.out
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	require.NoError(t, d.cmd.Start())
	go func() { d.err = d.cmd.Wait(); close(d.exited) }()
	t.Cleanup(func() {
		select {
		case <-d.exited:
		default:
			_ = syscall.Kill(-d.cmd.Process.Pid, syscall.SIGKILL)
			<-d.exited
		}
		if d.work != "" {
			for _, pid := range processesMentioning(t, d.work) {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		if t.Failed() {
			t.Logf("make dev output:\n%s", d.out)
		}
	})

	ready := regexp.MustCompile(`Server log: (\S+)/vault\.log\. Ctrl-C stops the server\.`)
	deadline := time.Now().Add(5 * time.Minute) // make build may compile everything
	for {
		if m := ready.FindStringSubmatch(d.out.String()); m != nil {
			d.work = m[1]
			return d
		}
		select {
		case <-d.exited:
			t.Fatalf("make dev exited (%v) before the server was ready:\n%s", d.err, d.out)
		case <-time.After(100 * time.Millisecond):
		}
		require.True(t, time.Now().Before(deadline), "make dev not ready after 5 minutes:\n%s", d.out)
	}
}

// interrupt presses Ctrl-C (SIGINT to the process group) and waits for
// make to exit.
func (d *devServer) interrupt(t *testing.T) {
	t.Helper()
	require.NoError(t, syscall.Kill(-d.cmd.Process.Pid, syscall.SIGINT))
	select {
	case <-d.exited:
	case <-time.After(60 * time.Second):
		t.Fatalf("make dev still running 60 s after Ctrl-C:\n%s", d.out)
	}
}

// processesMentioning lists the processes whose command line contains s.
func processesMentioning(t *testing.T, s string) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	require.NoError(t, err)
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue // gone meanwhile
		}
		if bytes.Contains(cmdline, []byte(s)) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// tryBlock returns the commands `make dev` suggests after "Try:": the
// indented lines up to the next blank line.
func tryBlock(out string) []string {
	_, after, ok := strings.Cut(out, "Try:\n")
	if !ok {
		return nil
	}
	var cmds []string
	for _, line := range strings.Split(strings.TrimLeft(after, "\n"), "\n") {
		if strings.TrimSpace(line) == "" {
			break
		}
		cmds = append(cmds, strings.TrimSpace(line))
	}
	return cmds
}

// TestMakeDev starts `make dev` as the README says, runs the commands it
// suggests (issue a certificate, read the gateway's peers) as a user would
// paste them, then presses Ctrl-C: make exits, and neither Vault nor a
// plugin process nor the server's directory is left behind.
func TestMakeDev(t *testing.T) {
	d := startMakeDev(t)
	require.Contains(t, d.out.String(), "Vault v0.1.0 plugin enabled at wg/ on "+d.addr)

	cmds := tryBlock(d.out.String())
	require.Len(t, cmds, 3, "the suggested commands:\n%s", d.out)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	sh := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", strings.Join(cmds, "\n"))
	sh.Env = append(os.Environ(), "VAULT_ADDR=", "VAULT_TOKEN=", "VAULT_FORMAT=", "NO_COLOR=1")
	out, err := sh.CombinedOutput()
	require.NoError(t, err, "%s", out)
	serial := regexp.MustCompile(`(?m)^serial_number\s+((?:[0-9a-f]{2}:){15}[0-9a-f]{2})$`).FindStringSubmatch(string(out))
	require.NotNil(t, serial, "no serial_number in:\n%s", out)
	require.Regexp(t, `(?m)^addresses\s+\[10\.77\.0\.2/32 fd77::2/128\]$`, string(out))
	require.Contains(t, string(out), "serial_number:"+serial[1], "the gateway's peers list the new certificate")

	// The server and its plugin run from the directory make dev printed.
	require.NotEmpty(t, processesMentioning(t, d.work), "no process runs from %s", d.work)
	d.interrupt(t)
	var exit *exec.ExitError
	if d.err != nil && !errors.As(d.err, &exit) {
		t.Fatalf("make dev: %v", d.err)
	}
	require.Empty(t, processesMentioning(t, d.work), "processes left running from %s", d.work)
	require.ErrorIs(t, syscall.Kill(-d.cmd.Process.Pid, 0), syscall.ESRCH, "processes left in make dev's process group")
	_, err = os.Stat(d.work)
	require.ErrorIs(t, err, os.ErrNotExist, "make dev left %s", d.work)
}

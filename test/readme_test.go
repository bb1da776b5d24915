package test

import (
	"context"
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

// TestReadmeUsingIt runs the commands of the README's "Using it" as
// written, from the repository's root: build, get Vault, start a dev server
// with the plugin in its plugin directory, register and enable the plugin,
// configure it, log a device in with AppRole, issue, revoke, read the CRL,
// tidy. Only the dev server's port is changed (to a free one). Then the
// dev server is stopped, and nothing of it is left running.
func TestReadmeUsingIt(t *testing.T) {
	needCommands(t, "the README's commands use it", "make", "go", "wg", "openssl", "curl", "sha256sum")
	vaultBinary(t) // make vault finds the same one (cached, or on PATH)
	root, err := filepath.Abs("..")
	require.NoError(t, err)
	// What the commands create in the repository; never a user's own.
	made := []string{"plugins", "vault.log", "gateway.key", "device.key"}
	for _, name := range made {
		_, err := os.Lstat(filepath.Join(root, name))
		require.ErrorIs(t, err, os.ErrNotExist, "%s exists in the repository: the README's commands would overwrite it", name)
	}
	t.Cleanup(func() {
		for _, name := range made {
			_ = os.RemoveAll(filepath.Join(root, name))
		}
	})

	block := readmeFence(t, "Using it", "sh")
	require.Contains(t, block, "127.0.0.1:8200")
	block = strings.ReplaceAll(block, "127.0.0.1:8200", "127.0.0.1:"+strconv.Itoa(freePort(t)))

	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute) // make build may compile everything
	defer cancel()
	out := &syncBuffer{}
	sh := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", block)
	sh.Dir = root
	sh.Env = append(os.Environ(), "VAULT_ADDR=", "VAULT_TOKEN=", "VAULT_FORMAT=", "NO_COLOR=1")
	sh.Stdout, sh.Stderr = out, out
	sh.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // the dev server stays in this group
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		pgid := sh.Process.Pid
		_ = syscall.Kill(-pgid, syscall.SIGTERM) // as `kill %1`: Vault stops its plugins
		deadline := time.Now().Add(30 * time.Second)
		for syscall.Kill(-pgid, 0) == nil && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
	}
	sh.Cancel = func() error { stop(); return nil }
	require.NoError(t, sh.Start())
	t.Cleanup(stop)
	if err := sh.Wait(); err != nil {
		t.Fatalf("the README's commands failed: %v\n%s\nvault.log:\n%s", err, out, readFileOrEmpty(filepath.Join(root, "vault.log")))
	}
	text := out.String()

	// The device's certificate is named after its AppRole role, for the key
	// in device.key, which only the device can read.
	require.Regexp(t, `(?m)^common_name +laptop-fleet$`, text, text)
	st, err := os.Stat(filepath.Join(root, "device.key"))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	pub := exec.Command("wg", "pubkey")
	pub.Stdin, err = os.Open(filepath.Join(root, "device.key"))
	require.NoError(t, err)
	key, err := pub.Output()
	require.NoError(t, err)
	require.Regexp(t, `(?m)^public_key +`+regexp.QuoteMeta(strings.TrimSpace(string(key)))+`$`, text)

	// The revoked certificate's serial is on the CRL.
	serial := regexp.MustCompile(`(?m)^wg_quick +# WireGuard certificate (\S+) for laptop-fleet$`).FindStringSubmatch(text)
	require.NotNil(t, serial, "the issued certificate's serial")
	require.Contains(t, text, "Serial Number: "+strings.ToUpper(strings.ReplaceAll(serial[1], ":", "")))
	require.Regexp(t, `(?m)^deleted +\d+$`, text, "wg/tidy answered")

	stop()
	require.ErrorIs(t, syscall.Kill(-sh.Process.Pid, 0), syscall.ESRCH, "the dev server's process group is gone")
	require.Empty(t, processesMentioning(t, filepath.Join(root, "plugins")), "processes left running from %s/plugins", root)
}

// readFileOrEmpty returns a file's content, or "" if it cannot be read.
func readFileOrEmpty(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

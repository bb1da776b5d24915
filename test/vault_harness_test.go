package test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	vault "github.com/hashicorp/vault/api"
	"github.com/stretchr/testify/require"
)

// pluginName is the name the plugin is registered under.
const pluginName = "vault-plugin-secrets-wireguard"

// pluginVersion is the version the tests build and register.
const pluginVersion = "v0.1.0"

// need skips the test for a missing prerequisite, or fails it when
// WG_REQUIRE_ALL is set, so that nothing silently skips in CI.
func need(t *testing.T, ok bool, format string, args ...any) {
	t.Helper()
	if ok {
		return
	}
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("WG_REQUIRE_ALL") != "" {
		t.Fatalf("missing prerequisite (WG_REQUIRE_ALL is set): %s", msg)
	}
	t.Skipf("missing prerequisite: %s", msg)
}

// vaultBinary finds the vault binary: $VAULT_BIN, then PATH.
func vaultBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("VAULT_BIN"); p != "" {
		return p
	}
	p, err := exec.LookPath("vault")
	need(t, err == nil, "no vault binary: run scripts/get-vault.sh and set VAULT_BIN, or use make test")
	return p
}

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

// builtBinary builds one of the project's commands once per test run and
// returns its path.
func builtBinary(t *testing.T, name string) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "wg-test-bin-")
		if buildErr != nil {
			return
		}
		cmd := exec.Command("go", "build", "-ldflags", "-X main.version="+pluginVersion,
			"-o", buildDir+"/", "../cmd/...")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	require.NoError(t, buildErr)
	return filepath.Join(buildDir, name)
}

// A vaultServer is a running Vault dev server with the plugin enabled at wg/.
type vaultServer struct {
	t       *testing.T
	bin     string
	addr    string
	dir     string
	root    *vault.Client
	cmd     *exec.Cmd
	logs    *bytes.Buffer
	logMu   sync.Mutex
	stopped chan struct{}
	// groups are the process groups of every Vault process started for
	// this server: its plugins live on in them after a SIGKILL of Vault.
	groups []int
}

// freePort returns a free TCP port on loopback.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startVault starts `vault server -dev` on a loopback port with the plugin
// registered (with its sha256 and version) and enabled at wg/.
func startVault(t *testing.T) *vaultServer {
	t.Helper()
	bin := vaultBinary(t)
	plugin := builtBinary(t, pluginName)
	dir := t.TempDir()
	pluginDir := filepath.Join(dir, "plugins")
	require.NoError(t, os.MkdirAll(pluginDir, 0o755))
	data, err := os.ReadFile(plugin)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(pluginDir, pluginName), data, 0o755))
	sum := sha256.Sum256(data)

	port := freePort(t)
	s := &vaultServer{t: t, bin: bin, dir: dir, addr: fmt.Sprintf("http://127.0.0.1:%d", port), logs: &bytes.Buffer{}}
	cmd := exec.Command(bin, "server", "-dev", "-dev-root-token-id=root",
		fmt.Sprintf("-dev-listen-address=127.0.0.1:%d", port), "-dev-plugin-dir="+pluginDir, "-log-level=debug")
	cmd.Env = append(os.Environ(), "VAULT_DEV_ROOT_TOKEN_ID=root")
	t.Cleanup(s.stop)
	s.run(cmd)

	s.root = s.client("root")
	s.waitUp()
	s.cli("plugin", "register", "-sha256="+hex.EncodeToString(sum[:]), "-version="+pluginVersion,
		"-command="+pluginName, "secret", pluginName)
	s.cli("secrets", "enable", "-path=wg", "-plugin-version="+pluginVersion,
		"-audit-non-hmac-response-keys=serial_number", pluginName)
	return s
}

// Write collects the server's output for the test log.
func (s *vaultServer) Write(p []byte) (int, error) {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	return s.logs.Write(p)
}

// run starts cmd as the server's Vault process, in a process group of its
// own that its plugins join: a SIGKILL of Vault leaves them running (they
// are not told), and stop kills them with the group.
func (s *vaultServer) run(cmd *exec.Cmd) {
	s.t.Helper()
	cmd.Stdout, cmd.Stderr = s, s
	// SIGKILL on our death too, so that a test binary killed by -timeout
	// leaves no Vault.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	require.NoError(s.t, cmd.Start())
	s.cmd, s.stopped = cmd, make(chan struct{})
	s.groups = append(s.groups, cmd.Process.Pid)
	go func(done chan struct{}) { _ = cmd.Wait(); close(done) }(s.stopped)
}

// stop kills every process group the server started, Vault and the plugins
// of each of its incarnations, and waits for Vault to exit.
func (s *vaultServer) stop() {
	for _, pgid := range s.groups {
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
	}
	if s.stopped != nil {
		<-s.stopped
	}
	if s.t.Failed() {
		s.logMu.Lock()
		s.t.Logf("vault server output:\n%s", s.logs.String())
		s.logMu.Unlock()
	}
}

func (s *vaultServer) waitUp() {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-s.stopped:
			s.t.Fatalf("vault server exited:\n%s", s.logs.String())
		default:
		}
		if h, err := s.root.Sys().Health(); err == nil && h.Initialized && !h.Sealed {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.t.Fatalf("vault server did not come up in 60s:\n%s", s.logs.String())
}

// client returns an API client for the server with token.
func (s *vaultServer) client(token string) *vault.Client {
	s.t.Helper()
	conf := vault.DefaultConfig()
	conf.Address = s.addr
	conf.MaxRetries = 0
	c, err := vault.NewClient(conf)
	require.NoError(s.t, err)
	c.SetToken(token)
	return c
}

// cli runs the vault CLI with the root token and returns its output; it
// must succeed.
func (s *vaultServer) cli(args ...string) string {
	s.t.Helper()
	out, err := s.cliAs(s.root.Token(), args...)
	require.NoError(s.t, err, "vault %s:\n%s", strings.Join(args, " "), out)
	return out
}

// cliAs runs the vault CLI with token.
func (s *vaultServer) cliAs(token string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.bin, args...)
	cmd.Env = append(os.Environ(), "VAULT_ADDR="+s.addr, "VAULT_TOKEN="+token, "VAULT_FORMAT=", "NO_COLOR=1")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

const (
	pluginName    = "vault-plugin-secrets-wireguard"
	pluginVersion = "v0.1.0"
	rootToken     = "root"
)

// binaries are the programs a run uses.
type binaries struct {
	vault   string
	plugin  string // what is registered as the plugin
	gateway string
	dir     string
}

// buildBinaries finds Vault (scripts/get-vault.sh) and builds the plugin and
// wg-gateway as `make build` does, but keeping symbols for profiles. With
// profile, the profiling wrappers of test/bench/prof* stand in for them.
func buildBinaries(root, out string, profile bool, overlay string) (binaries, error) {
	var b binaries
	vb, err := exec.Command(filepath.Join(root, "scripts", "get-vault.sh")).Output()
	if err != nil {
		return b, fmt.Errorf("scripts/get-vault.sh: %w", err)
	}
	b.vault = strings.TrimSpace(string(vb))
	b.dir = filepath.Join(out, "bin")
	pkgs := []string{"./cmd/vault-plugin-secrets-wireguard", "./cmd/wg-gateway"}
	if profile {
		pkgs = []string{"./test/bench/profplugin", "./test/bench/profgateway"}
	}
	for i, pkg := range pkgs {
		name := []string{pluginName, "wg-gateway"}[i]
		args := []string{"build", "-trimpath", "-ldflags", "-X main.version=" + pluginVersion}
		if overlay != "" {
			args = append(args, "-overlay", overlay)
		}
		cmd := exec.Command("go", append(args, "-o", filepath.Join(b.dir, name), pkg)...)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if o, err := cmd.CombinedOutput(); err != nil {
			return b, fmt.Errorf("go build %s: %v\n%s", pkg, err, o)
		}
	}
	b.plugin = filepath.Join(b.dir, pluginName)
	b.gateway = filepath.Join(b.dir, "wg-gateway")
	logf("built %s and wg-gateway in %s (profiling wrappers: %v, overlay: %q); vault is %s", pluginName, b.dir, profile, overlay, b.vault)
	return b, nil
}

// A vaultServer is the run's Vault dev server.
type vaultServer struct {
	bin     string
	addr    string
	dir     string
	cmd     *exec.Cmd
	exited  chan struct{}
	version string
	http    *http.Client
	pprof   string // the plugin's pprof listener, in profile mode
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// startVault starts `vault server -dev` on a loopback port, with the raw
// storage endpoint (to measure record sizes) and a long request limit (so
// that a synchronous revoke-prefix of thousands of PKI leases is not cut
// off at the default 90 s), registers the plugin and waits until it is up.
func startVault(ctx context.Context, bins binaries, p params) (*vaultServer, error) {
	dir := filepath.Join(p.Out, "vault")
	pluginDir := filepath.Join(dir, "plugins")
	if err := os.MkdirAll(pluginDir, 0o755); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(bins.plugin)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(pluginDir, pluginName), data, 0o755); err != nil {
		return nil, err
	}
	sum := sha256.Sum256(data)
	conf := filepath.Join(dir, "bench.hcl")
	if err := os.WriteFile(conf, []byte("raw_storage_endpoint = true\ndefault_max_request_duration = \"30m\"\n"), 0o644); err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	s := &vaultServer{bin: bins.vault, dir: dir, addr: fmt.Sprintf("http://127.0.0.1:%d", port), exited: make(chan struct{})}
	s.http = &http.Client{
		Timeout: 30 * time.Minute,
		Transport: &http.Transport{
			MaxIdleConns: 256, MaxIdleConnsPerHost: 256, IdleConnTimeout: 90 * time.Second,
			DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		},
	}
	logFile, err := os.Create(filepath.Join(dir, "vault.log"))
	if err != nil {
		return nil, err
	}
	s.cmd = exec.Command(bins.vault, "server", "-dev", "-dev-root-token-id="+rootToken,
		fmt.Sprintf("-dev-listen-address=127.0.0.1:%d", port), "-dev-plugin-dir="+pluginDir,
		"-config="+conf, "-log-level=warn")
	s.cmd.Stdout, s.cmd.Stderr = logFile, logFile
	s.cmd.Env = append(os.Environ(), "VAULT_DEV_ROOT_TOKEN_ID="+rootToken)
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { _ = s.cmd.Wait(); logFile.Close(); close(s.exited) }()
	atExit(func() {
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-s.exited:
		case <-time.After(10 * time.Second):
		}
		// Whatever is left of the group (Vault, or a plugin that outlived
		// it: Vault does not wait for them all) goes now.
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.exited
	})
	if err := s.waitUp(ctx); err != nil {
		return nil, err
	}
	out, err := s.cli("version")
	if err != nil {
		return nil, err
	}
	s.version = strings.TrimSpace(out)
	args := []string{"plugin", "register", "-sha256=" + hex.EncodeToString(sum[:]), "-version=" + pluginVersion,
		"-command=" + pluginName}
	if p.Profile {
		pp, err := freePort()
		if err != nil {
			return nil, err
		}
		s.pprof = fmt.Sprintf("127.0.0.1:%d", pp)
		args = append(args, "-env=WG_BENCH_PPROF="+s.pprof)
	}
	if _, err := s.cli(append(args, "secret", pluginName)...); err != nil {
		return nil, err
	}
	logf("vault %s at %s (log %s)", s.version, s.addr, filepath.Join(dir, "vault.log"))
	return s, nil
}

func (s *vaultServer) waitUp(ctx context.Context) error {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-s.exited:
			return fmt.Errorf("vault server exited; see %s/vault.log", s.dir)
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		if code, _, err := s.do("GET", "sys/health", "", nil); err == nil && code == 200 {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("vault did not come up in 60s; see %s/vault.log", s.dir)
}

// cli runs the vault CLI as root.
func (s *vaultServer) cli(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.bin, args...)
	cmd.Env = append(os.Environ(), "VAULT_ADDR="+s.addr, "VAULT_TOKEN="+rootToken, "VAULT_FORMAT=", "NO_COLOR=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("vault %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// do sends one API request and returns the status and body.
func (s *vaultServer) do(method, path, token string, body any) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.addr+"/v1/"+path, rd)
	if err != nil {
		return 0, nil, err
	}
	if token != "" {
		req.Header.Set("X-Vault-Token", token)
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// apiResponse is the part of Vault's answers the bench reads.
type apiResponse struct {
	LeaseID string          `json:"lease_id"`
	Data    json.RawMessage `json:"data"`
	Auth    *struct {
		ClientToken string `json:"client_token"`
	} `json:"auth"`
	Errors []string `json:"errors"`
}

// call sends a request as token and decodes the answer; any status but
// 200 and 204 is an error.
func (s *vaultServer) call(method, path, token string, body any, data any) (*apiResponse, error) {
	code, b, err := s.do(method, path, token, body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if code == http.StatusNoContent || code == http.StatusAccepted {
		return &apiResponse{}, nil // no body; 202: queued (revoke-prefix with sync=false)
	}
	var r apiResponse
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s %s: status %d: %s", method, path, code, truncate(b))
	}
	if code != http.StatusOK {
		return &r, fmt.Errorf("%s %s: status %d: %s", method, path, code, strings.Join(r.Errors, "; "))
	}
	if data != nil && len(r.Data) > 0 {
		if err := json.Unmarshal(r.Data, data); err != nil {
			return &r, fmt.Errorf("%s %s: decode data: %w", method, path, err)
		}
	}
	return &r, nil
}

// write is a root POST that must succeed.
func (s *vaultServer) write(path string, body map[string]any) error {
	_, err := s.call("POST", path, rootToken, body, nil)
	return err
}

func truncate(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "…"
	}
	return string(b)
}

// enableWG mounts the plugin at path with a fresh Ed25519 CA.
func (s *vaultServer) enableWG(path string) error {
	if _, err := s.cli("secrets", "enable", "-path="+path, "-plugin-version="+pluginVersion,
		"-audit-non-hmac-response-keys=serial_number", pluginName); err != nil {
		return err
	}
	return s.write(path+"/config/ca", map[string]any{"key_type": "ed25519", "common_name": "Bench CA " + path})
}

// setupAuth creates the AppRoles of the run: a device that may issue and
// sign on every mount, and gateways that may read any feed and report.
func (b *bench) setupAuth() error {
	s := b.vault
	if _, err := s.cli("auth", "enable", "approle"); err != nil {
		return err
	}
	policies := map[string]string{
		"bench-device":  `path "+/issue/*" { capabilities = ["update"] }` + "\n" + `path "+/sign/*" { capabilities = ["update"] }`,
		"bench-gateway": `path "+/gateways/+/peers" { capabilities = ["read"] }` + "\n" + `path "+/gateways/+/status" { capabilities = ["update"] }`,
	}
	for name, pol := range policies {
		if err := s.write("sys/policies/acl/"+name, map[string]any{"policy": pol}); err != nil {
			return err
		}
		if err := s.write("auth/approle/role/"+name, map[string]any{"token_policies": name, "token_ttl": "24h", "token_max_ttl": "48h"}); err != nil {
			return err
		}
	}
	roleID, secretID, err := b.approleCredentials("bench-device")
	if err != nil {
		return err
	}
	r, err := s.call("POST", "auth/approle/login", "", map[string]any{"role_id": roleID, "secret_id": secretID}, nil)
	if err != nil {
		return err
	}
	b.device = r.Auth.ClientToken
	return nil
}

// approleCredentials returns a role's role_id and a fresh secret_id.
func (b *bench) approleCredentials(role string) (string, string, error) {
	var rid struct {
		RoleID string `json:"role_id"`
	}
	if _, err := b.vault.call("GET", "auth/approle/role/"+role+"/role-id", rootToken, nil, &rid); err != nil {
		return "", "", err
	}
	var sid struct {
		SecretID string `json:"secret_id"`
	}
	if _, err := b.vault.call("POST", "auth/approle/role/"+role+"/secret-id", rootToken, nil, &sid); err != nil {
		return "", "", err
	}
	return rid.RoleID, sid.SecretID, nil
}

// waitLeasesGone polls sys/leases/lookup/<prefix>/ until it lists nothing.
func (s *vaultServer) waitLeasesGone(prefix string, limit time.Duration) (time.Duration, error) {
	start := time.Now()
	for time.Since(start) < limit {
		code, _, err := s.do("LIST", "sys/leases/lookup/"+prefix, rootToken, nil)
		if err != nil {
			return 0, err
		}
		if code == http.StatusNotFound {
			return time.Since(start), nil
		}
		time.Sleep(5 * time.Millisecond)
	}
	return 0, fmt.Errorf("leases under %s still there after %s", prefix, limit)
}

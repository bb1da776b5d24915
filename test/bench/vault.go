package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/test/internal/harness"
)

const (
	pluginName = harness.PluginName
	rootToken  = harness.DevRootToken
)

// pluginVersion is the Makefile's VERSION, which the harness reads.
var pluginVersion = harness.PluginVersion

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

// A vaultServer is the run's Vault dev server, started by the harness.
type vaultServer struct {
	*harness.Vault
	addr    string
	version string
	http    *http.Client
	pprof   string // the plugin's pprof listener, in profile mode
	// gc is Vault's garbage collections, from its output (gcTraceEnv).
	gc *gcTrace
}

// startVault starts `vault server -dev` on a loopback port, with the raw
// storage endpoint (to measure record sizes) and a long request limit (so
// that a synchronous revoke-prefix of thousands of PKI leases is not cut
// off at the default 90 s), and registers the plugin; mounts are made by
// enableWG.
func startVault(tb *runTB, bins binaries, p params) (*vaultServer, error) {
	dir := filepath.Join(p.Out, "vault")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	logFile, err := os.Create(filepath.Join(dir, "vault.log"))
	if err != nil {
		return nil, err
	}
	atExit(func() { _ = logFile.Close() }) // after Vault has stopped
	s := &vaultServer{gc: newGCTrace(logFile)}
	s.http = &http.Client{
		Timeout: 30 * time.Minute,
		Transport: &http.Transport{
			MaxIdleConns: 256, MaxIdleConnsPerHost: 256, IdleConnTimeout: 90 * time.Second,
			DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		},
	}
	opts := harness.VaultOptions{
		Bin:      bins.vault,
		Plugin:   bins.plugin,
		Config:   "raw_storage_endpoint = true\ndefault_max_request_duration = \"30m\"\n",
		LogLevel: "warn",
		Log:      s.gc,
		Env:      []string{gcTraceEnv},
		Mount:    harness.NoMount,
	}
	if p.Profile {
		var pp int
		if err := try(func() { pp = harness.FreePort(tb) }); err != nil {
			return nil, err
		}
		s.pprof = fmt.Sprintf("127.0.0.1:%d", pp)
		opts.PluginEnv = []string{"WG_BENCH_PPROF=" + s.pprof}
	}
	if p.PluginEnv != "" {
		opts.PluginEnv = append(opts.PluginEnv, strings.Split(p.PluginEnv, ",")...)
	}
	if err := try(func() { s.Vault = harness.StartVault(tb, opts) }); err != nil {
		return nil, fmt.Errorf("start vault (log %s): %w", logFile.Name(), err)
	}
	s.addr = s.Addr
	out, err := s.cli("version")
	if err != nil {
		return nil, err
	}
	s.version = strings.TrimSpace(out)
	logf("vault %s at %s (log %s)", s.version, s.addr, logFile.Name())
	return s, nil
}

// cli runs the vault CLI as root.
func (s *vaultServer) cli(args ...string) (string, error) {
	out, err := s.CLIAs(rootToken, args...)
	if err != nil {
		return out, fmt.Errorf("vault %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out, nil
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
	if err := try(func() { s.EnablePlugin(path) }); err != nil {
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

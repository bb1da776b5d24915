package test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/test/internal/harness"
)

// runDevice runs `wg-device args...` to completion with env added to the
// test's environment (VAULT_TOKEN cleared) and returns its stdout, stderr
// and exit code.
func runDevice(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, builtBinary(t, "wg-device"), args...)
	cmd.Env = append(append(os.Environ(), "VAULT_TOKEN="), env...)
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		code = exit.ExitCode()
	default:
		t.Fatalf("wg-device %s: %v", strings.Join(args, " "), err)
	}
	return out.String(), errOut.String(), code
}

// A deviceProc is `wg-device run` started by a test inside a network
// namespace.
type deviceProc struct {
	cmd    *exec.Cmd
	out    *syncBuffer
	exited chan struct{}
}

// startDevice starts `wg-device run args...` in ns (ip netns exec), so that
// its ip(8) commands act on the namespace's interface; with ns nil, in the
// test's own namespace (for -config alone). env is added to the test's
// environment; the process is stopped at the end of the test.
func startDevice(t *testing.T, ns *netns, env []string, args ...string) *deviceProc {
	t.Helper()
	p := &deviceProc{out: &syncBuffer{}, exited: make(chan struct{})}
	if ns == nil {
		p.cmd = exec.Command(builtBinary(t, "wg-device"), append([]string{"run"}, args...)...)
	} else {
		p.cmd = exec.Command("ip", append([]string{"netns", "exec", ns.name, builtBinary(t, "wg-device"), "run"}, args...)...)
	}
	p.cmd.Env = append(append(os.Environ(), "VAULT_TOKEN="), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	require.NoError(t, p.cmd.Start())
	go func() { _ = p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		harness.StopGroup(p.cmd.Process.Pid, p.exited, 5*time.Second)
		if t.Failed() {
			t.Logf("wg-device output:\n%s", p.out)
		}
	})
	return p
}

// vaultSocket serves Vault's HTTP API on a Unix socket and returns the
// VAULT_ADDR for it. A process in a test's network namespace cannot reach
// the Vault listening on the root namespace's loopback, but a socket in the
// file system is reachable from every namespace (as wireguard-go's are).
func vaultSocket(t *testing.T, vaultAddr string) string {
	t.Helper()
	u, err := url.Parse(vaultAddr)
	require.NoError(t, err)
	sock := filepath.Join(t.TempDir(), "vault.sock")
	l, err := net.Listen("unix", sock)
	require.NoError(t, err)
	var wg sync.WaitGroup
	t.Cleanup(func() { _ = l.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				up, err := net.Dial("tcp", u.Host)
				if err != nil {
					return
				}
				defer up.Close()
				done := make(chan struct{}, 2)
				go func() { _, _ = io.Copy(up, c); done <- struct{}{} }()
				go func() { _, _ = io.Copy(c, up); done <- struct{}{} }()
				<-done
			}()
		}
	}()
	return "unix://" + sock
}

// certForKey finds the engine's record of the certificate for key.
func certForKey(t *testing.T, s *vaultServer, key wgtypes.Key) (serial string, data map[string]any) {
	t.Helper()
	list, err := s.root.Logical().List("wg/certs/")
	require.NoError(t, err)
	require.NotNil(t, list)
	for _, k := range list.Data["keys"].([]any) {
		rec, err := s.root.Logical().Read("wg/cert/" + k.(string))
		require.NoError(t, err)
		if rec.Data["public_key"] == key.String() {
			return k.(string), rec.Data
		}
	}
	t.Fatalf("no certificate for key %s", key)
	return "", nil
}

// A pinger pings an address from a namespace every interval, each ping a
// process of its own so that a slow answer does not delay the next.
type pinger struct {
	mu      sync.Mutex
	results []pingResult
	stop    chan struct{}
	done    sync.WaitGroup
}

type pingResult struct {
	at time.Time
	ok bool
}

func startPinger(ns *netns, addr string, interval time.Duration) *pinger {
	p := &pinger{stop: make(chan struct{})}
	p.done.Add(1)
	go func() {
		defer p.done.Done()
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-p.stop:
				return
			case at := <-tick.C:
				p.done.Add(1)
				go func() {
					defer p.done.Done()
					ok := ns.canPing(addr, time.Second)
					p.mu.Lock()
					p.results = append(p.results, pingResult{at: at, ok: ok})
					p.mu.Unlock()
				}()
			}
		}
	}()
	return p
}

// waitSentAfter waits until the result of a ping sent at or after at is
// in.
func (p *pinger) waitSentAfter(t *testing.T, at time.Time, limit time.Duration) {
	t.Helper()
	require.Eventually(t, func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, r := range p.results {
			if !r.at.Before(at) {
				return true
			}
		}
		return false
	}, limit, 20*time.Millisecond, "no ping sent after %v came back", at)
}

// finish stops the pinger and returns its results in sending order.
func (p *pinger) finish() []pingResult {
	close(p.stop)
	p.done.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	res := append([]pingResult(nil), p.results...)
	for i := 1; i < len(res); i++ {
		for j := i; j > 0 && res[j].at.Before(res[j-1].at); j-- {
			res[j], res[j-1] = res[j-1], res[j]
		}
	}
	return res
}

// deviceKey is the public key the device's interface has now.
func (tt *tunnelTest) deviceKey() wgtypes.Key {
	dev, err := tt.devIf.client.Device(tt.devIf.name)
	require.NoError(tt.t, err)
	return dev.PublicKey
}

// TestDeviceRotation runs `wg-device run` on a device interface behind a
// real wg-gateway, with 20-second certificates: the device gets onto the
// tunnel by itself, rotates to a new key and certificate at about two thirds
// of the lifetime without a gap in a 100 ms ping, and the old certificate is
// revoked and leaves the gateway.
func TestDeviceRotation(t *testing.T) {
	tt := newTunnelTest(t)
	s := tt.vault
	s.cli("write", "wg/roles/laptop", "ttl=20s")
	roleID, secretID := tt.approleCredentials("laptop", false)
	// The device starts from an interface that knows nothing: no peer.
	tt.devIf.removePeer(t, tt.gwIf.public)

	started := time.Now()
	dev := startDevice(t, tt.devNS, []string{"VAULT_ADDR=" + vaultSocket(t, s.addr)},
		"-role", "laptop", "-interface", tt.devIf.name, "-role-id-file", roleID, "-secret-id-file", secretID,
		"-switch-delay", "1s", "-log-level", "debug")

	// 1. The device issues and configures its interface; a ping passes.
	tt.eventuallyReaches()
	t.Logf("device on the tunnel %v after wg-device started", time.Since(started).Round(time.Millisecond))
	firstKey := tt.deviceKey()
	firstSerial, first := certForKey(t, s, firstKey)
	require.Equal(t, false, first["revoked"])
	require.True(t, tt.gwIf.hasPeer(t, firstKey))
	require.Contains(t, tt.devNS.mustExec(t, "ip", "-brief", "addr", "show", "dev", tt.devIf.name),
		strings.TrimSuffix(first["addresses"].([]any)[0].(string), "/32"))

	// 2. Ping every 100 ms across the rotation.
	p := startPinger(tt.devNS, gatewayTunnelIP, 100*time.Millisecond)
	var switched time.Time
	require.Eventually(t, func() bool {
		if tt.deviceKey() != firstKey {
			switched = time.Now()
			return true
		}
		return false
	}, 25*time.Second, 20*time.Millisecond, "the device never rotated")
	issuedAt, err := time.Parse(time.RFC3339, first["issued_at"].(string))
	require.NoError(t, err)
	t.Logf("rotated %v after the first certificate was issued (lifetime 20s; planned at 2/3 minus up to 1/10; "+
		"the successor keeps the address, so no switch delay)", switched.Sub(issuedAt).Round(time.Millisecond))
	require.Greater(t, switched.Sub(issuedAt), 11*time.Second)
	require.Less(t, switched.Sub(issuedAt), 16*time.Second)
	// Keep pinging until pings sent 3s after the switch have come back.
	p.waitSentAfter(t, switched.Add(3*time.Second), 30*time.Second)
	results := p.finish()

	lost := 0
	for _, r := range results {
		if !r.ok {
			lost++
			t.Logf("ping sent %v from the switch was lost", r.at.Sub(switched).Round(time.Millisecond))
		}
	}
	t.Logf("%d pings over %v around the rotation, %d lost", len(results),
		results[len(results)-1].at.Sub(results[0].at).Round(time.Millisecond), lost)
	require.Greater(t, len(results), 40)
	require.LessOrEqual(t, lost, 1, "a gap in the tunnel at the rotation")

	// 3. Two consecutive certificates: the new one live, for the same
	// identity, with the same address (it replaces the first); the old one
	// revoked, its peer gone from the gateway.
	secondKey := tt.deviceKey()
	secondSerial, second := certForKey(t, s, secondKey)
	require.NotEqual(t, firstSerial, secondSerial)
	require.Equal(t, first["common_name"], second["common_name"])
	require.Equal(t, first["addresses"], second["addresses"], "the rotation moved the device to another address")
	require.Equal(t, firstSerial, second["replaces"])
	require.Contains(t, tt.devNS.mustExec(t, "ip", "-brief", "addr", "show", "dev", tt.devIf.name),
		strings.TrimSuffix(first["addresses"].([]any)[0].(string), "/32"))
	require.Equal(t, false, second["revoked"])
	require.True(t, tt.gwIf.hasPeer(t, secondKey))
	require.Eventually(t, func() bool {
		rec, err := s.root.Logical().Read("wg/cert/" + firstSerial)
		return err == nil && rec.Data["revoked"] == true && rec.Data["replaced_by"] == secondSerial
	}, 5*time.Second, 50*time.Millisecond, "the old certificate was not revoked as replaced")
	require.Eventually(t, func() bool { return !tt.gwIf.hasPeer(t, firstKey) }, 5*time.Second, 20*time.Millisecond)
	require.Regexp(t, regexp.MustCompile(`revoked the replaced certificate: serial=`+regexp.QuoteMeta(firstSerial)), dev.out.String())
	require.True(t, tt.canReachGateway())
}

// TestDeviceIssueConfig shows `wg-device issue -config`: a wg-quick file
// and the certificate beside it, both 0600, that wg-quick and wg accept and
// whose private key matches the certified key; a response-wrapped secret id
// works too.
func TestDeviceIssueConfig(t *testing.T) {
	needCommands(t, "Debian: apt-get install openssl wireguard-tools", "openssl", "wg", "wg-quick")
	s := startVault(t)
	gwKey := setUpEngine(t, s)
	s.cli("write", "wg/roles/laptop", "gateway=gw1", "ttl=1h")
	s.cli("auth", "enable", "approle")
	require.NoError(t, s.root.Sys().PutPolicy("device", devicePolicy))
	dir := t.TempDir()
	roleID, secretID := appRoleFiles(t, s, dir, "laptop", "device", "token_ttl=2h")
	env := []string{"VAULT_ADDR=" + s.addr}

	conf := filepath.Join(dir, "wgdev0.conf")
	stdout, stderr, code := runDevice(t, env, "issue", "-role", "laptop", "-config", conf,
		"-role-id-file", roleID, "-secret-id-file", secretID)
	require.Equal(t, 0, code, stderr)
	for _, field := range []string{"serial_number", "address", "expiration", "lease_id"} {
		require.Regexp(t, `(?m)^`+field+` +\S+`, stdout)
	}
	require.NotContains(t, stdout+stderr, "revoked_at", "a 2h token outlives the 1h certificate")
	serial := regexp.MustCompile(`(?m)^serial_number +(\S+)`).FindStringSubmatch(stdout)[1]

	pem := filepath.Join(dir, "wgdev0.pem")
	for _, f := range []string{conf, pem} {
		st, err := os.Stat(f)
		require.NoError(t, err)
		require.Equal(t, os.FileMode(0o600), st.Mode().Perm(), f)
	}
	ca := filepath.Join(dir, "ca.pem")
	require.NoError(t, os.WriteFile(ca, httpGet(t, s.addr+"/v1/wg/ca/pem"), 0o644))
	require.Contains(t, openssl(t, "verify", "-CAfile", ca, pem), ": OK")

	// wg-quick strip reads the file; the private key is the certified key's.
	strip, err := exec.Command("wg-quick", "strip", conf).CombinedOutput()
	require.NoError(t, err, "wg-quick strip: %s", strip)
	priv := regexp.MustCompile(`(?m)^PrivateKey = (\S+)$`).FindStringSubmatch(string(strip))
	require.NotNil(t, priv, "no PrivateKey in:\n%s", strip)
	cmd := exec.Command("wg", "pubkey")
	cmd.Stdin = strings.NewReader(priv[1] + "\n")
	pub, err := cmd.Output()
	require.NoError(t, err)
	rec, err := s.root.Logical().Read("wg/cert/" + serial)
	require.NoError(t, err)
	require.Equal(t, strings.TrimSpace(string(pub)), rec.Data["public_key"])
	require.Contains(t, string(strip), "PublicKey = "+gwKey)
	require.NotContains(t, string(strip), "Address", "wg-quick strip leaves only what wg setconf reads")

	// wg setconf applies it to a real interface (when root can make one).
	if os.Geteuid() == 0 {
		if _, err := exec.LookPath("wireguard-go"); err == nil {
			ns := newNetns(t)
			w := newWG(t, ns, "", 0)
			stripped := filepath.Join(dir, "stripped.conf")
			require.NoError(t, os.WriteFile(stripped, strip, 0o600))
			ns.mustExec(t, "wg", "setconf", w.name, stripped)
			show := w.wgShow(t)
			require.Contains(t, show, "public key: "+strings.TrimSpace(string(pub)))
			require.Contains(t, show, "peer: "+gwKey)
			require.Contains(t, show, "endpoint: 198.51.100.1:51820")
		}
	}

	// A response-wrapped secret id is unwrapped and used.
	wrapped := s.cli("write", "-wrap-ttl=60s", "-field=wrapping_token", "-f", "auth/approle/role/laptop/secret-id")
	wrappedFile := filepath.Join(dir, "wrapped-secret-id")
	require.NoError(t, os.WriteFile(wrappedFile, []byte(strings.TrimSpace(wrapped)), 0o600))
	stdout, stderr, code = runDevice(t, env, "issue", "-role", "laptop", "-config", filepath.Join(dir, "wgdev1.conf"),
		"-role-id-file", roleID, "-secret-id-file", wrappedFile)
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stderr, "unwrapped the response-wrapped secret id")
	require.Regexp(t, `(?m)^serial_number +\S+`, stdout)
	// ...once: a wrapping token cannot be unwrapped twice.
	_, stderr, code = runDevice(t, env, "issue", "-role", "laptop", "-config", filepath.Join(dir, "wgdev2.conf"),
		"-role-id-file", roleID, "-secret-id-file", wrappedFile)
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "ask for a new")
}

// TestDeviceRefusals shows the message a user gets for each refusal, and
// that the device keeps to its exit codes: 1 for a refusal, 2 for bad flags.
func TestDeviceRefusals(t *testing.T) {
	s := startVault(t)
	setUpEngine(t, s)
	_, tinyGW, err := wgtypesGenerate()
	require.NoError(t, err)
	s.cli("write", "wg/gateways/tiny", "endpoint=198.51.100.9:51820", "public_key="+tinyGW.String(),
		"address=10.99.0.1", "address_pool=10.99.0.0/30")
	s.cli("write", "wg/roles/laptop", "gateway=gw1", "ttl=1h")
	s.cli("write", "wg/roles/tiny", "gateway=tiny", "ttl=1h")
	s.cli("auth", "enable", "approle")
	require.NoError(t, s.root.Sys().PutPolicy("device", devicePolicy))
	require.NoError(t, s.root.Sys().PutPolicy("any-role", `path "wg/issue/*" { capabilities = ["update"] }`))
	dir := t.TempDir()
	roleID, secretID := appRoleFiles(t, s, dir, "laptop", "device")
	anyRoleID, anySecretID := appRoleFiles(t, s, dir, "any", "any-role")
	env := []string{"VAULT_ADDR=" + s.addr}
	badSecret := filepath.Join(dir, "bad-secret-id")
	require.NoError(t, os.WriteFile(badSecret, []byte("00000000-0000-0000-0000-000000000000"), 0o600))

	issue := func(role, roleIDFile, secretIDFile string, extra ...string) (string, int) {
		_, stderr, code := runDevice(t, env, append([]string{"issue", "-role", role,
			"-config", filepath.Join(dir, "wgdev0.conf"), "-role-id-file", roleIDFile, "-secret-id-file", secretIDFile}, extra...)...)
		return stderr, code
	}

	stderr, code := issue("laptop", roleID, badSecret)
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "wg-device: login refused: approle login at auth/approle: invalid role or secret ID: check "+roleID+" and "+badSecret)

	stderr, code = issue("server", roleID, secretID)
	require.Equal(t, 1, code)
	require.Contains(t, stderr, `wg-device: permission denied: the token may not write wg/issue/server (Vault said: permission denied): `+
		`give the auth role a policy with path "wg/issue/server" { capabilities = ["update"] }`)

	stderr, code = issue("server", anyRoleID, anySecretID)
	require.Equal(t, 1, code)
	require.Contains(t, stderr, `wg-device: unknown role: role "server" does not exist on wg/ (Vault said: role: unknown role "server"): check -role`)

	// The tiny pool has two addresses, one of them the gateway's.
	stderr, code = issue("tiny", anyRoleID, anySecretID)
	require.Equal(t, 0, code, stderr)
	stderr, code = issue("tiny", anyRoleID, anySecretID)
	require.Equal(t, 1, code)
	require.Contains(t, stderr, `wg-device: address pool exhausted: the gateway of role "tiny" has no free address `+
		`(Vault said: address_pool: address pool exhausted for gateway "tiny"): an operator must widen the gateway's address_pool or revoke unused certificates`)

	// Vault unreachable: retried for -retry-for, then a clear failure.
	start := time.Now()
	_, stderr, code = runDevice(t, []string{"VAULT_ADDR=http://127.0.0.1:1", "VAULT_MAX_RETRIES=0"}, "issue", "-role", "laptop",
		"-config", filepath.Join(dir, "wgdev0.conf"), "-role-id-file", roleID, "-secret-id-file", secretID, "-retry-for", "2s")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "still failing after retrying for 2s")
	require.Contains(t, stderr, "connection refused")
	require.Less(t, time.Since(start), 10*time.Second)

	// `run` exits non-zero at once when its credentials are refused.
	start = time.Now()
	_, stderr, code = runDevice(t, env, "run", "-role", "laptop", "-config", filepath.Join(dir, "wgdev0.conf"),
		"-role-id-file", roleID, "-secret-id-file", badSecret)
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "login refused")
	require.Less(t, time.Since(start), 10*time.Second)

	// Bad flags: exit 2 and the flag to fix.
	_, stderr, code = runDevice(t, env, "issue", "-role", "laptop", "-role-id-file", roleID, "-secret-id-file", secretID)
	require.Equal(t, 2, code)
	require.Contains(t, stderr, "-config or -interface is required")
	_, stderr, code = runDevice(t, append(env, "WG_DEVICE_AUTH=kerberos"), "issue", "-role", "laptop", "-config", "x.conf")
	require.Equal(t, 2, code)
	require.Contains(t, stderr, `-auth "kerberos": want approle, kubernetes, cert or token`)
}

// appRoleFiles creates AppRole role with policies (and further role
// settings) and writes its role id and a secret id to files in dir.
func appRoleFiles(t *testing.T, s *vaultServer, dir, role, policies string, settings ...string) (roleIDFile, secretIDFile string) {
	t.Helper()
	s.cli(append([]string{"write", "auth/approle/role/" + role, "token_policies=" + policies}, settings...)...)
	r, err := s.root.Logical().Read("auth/approle/role/" + role + "/role-id")
	require.NoError(t, err)
	sec, err := s.root.Logical().Write("auth/approle/role/"+role+"/secret-id", nil)
	require.NoError(t, err)
	roleIDFile, secretIDFile = filepath.Join(dir, role+".role-id"), filepath.Join(dir, role+".secret-id")
	require.NoError(t, os.WriteFile(roleIDFile, []byte(r.Data["role_id"].(string)+"\n"), 0o600))
	require.NoError(t, os.WriteFile(secretIDFile, []byte(sec.Data["secret_id"].(string)+"\n"), 0o600))
	return roleIDFile, secretIDFile
}

// startVaultTLS is startVault with an HTTPS listener (vault server -dev
// -dev-tls): Vault makes a CA and a server certificate in the directory it
// is given, and VAULT_CACERT points the test's clients at that CA.
func startVaultTLS(t *testing.T) (s *vaultServer, caFile string) {
	t.Helper()
	s = wrapVault(t, harness.StartVault(t, harness.VaultOptions{TLS: true}))
	t.Setenv("VAULT_CACERT", s.CAFile) // for the processes the test starts
	return s, s.CAFile
}

// testCA is a certificate authority made for a test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issueClient writes a TLS client certificate for commonName, signed by the
// CA, and its key, to dir; it returns the two paths.
func (ca *testCA) issueClient(t *testing.T, dir, commonName string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: commonName},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	require.NoError(t, err)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	certFile, keyFile = filepath.Join(dir, commonName+".crt"), filepath.Join(dir, commonName+".key")
	require.NoError(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644))
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600))
	return certFile, keyFile
}

// TestDeviceCertAuth shows mTLS enrolment: over Vault's HTTPS listener, a
// device whose TLS client certificate comes from the CA that auth/cert
// trusts gets a WireGuard certificate named after its X.509 identity (the
// role's default common name: the client certificate's CN); a certificate
// from another CA is refused with a message naming what to fix.
func TestDeviceCertAuth(t *testing.T) {
	s, vaultCA := startVaultTLS(t)
	setUpEngine(t, s)
	s.cli("auth", "enable", "cert")
	accessor := authAccessor(t, s, "cert/")
	s.cli("write", "wg/roles/enrolled", "gateway=gw1", "ttl=1h")
	require.NoError(t, s.root.Sys().PutPolicy("enrolled", `path "wg/issue/enrolled" { capabilities = ["update"] }`))

	dir := t.TempDir()
	fleetCA, otherCA := newTestCA(t, "Device Fleet CA"), newTestCA(t, "Some Other CA")
	caFile := filepath.Join(dir, "fleet-ca.pem")
	require.NoError(t, os.WriteFile(caFile, fleetCA.pem, 0o644))
	s.cli("write", "auth/cert/certs/fleet", "certificate=@"+caFile, "token_policies=enrolled", "token_ttl=2h")

	env := []string{"VAULT_ADDR=" + s.addr, "VAULT_CACERT=" + vaultCA}
	cert, key := fleetCA.issueClient(t, dir, "device-0042")
	conf := filepath.Join(dir, "wgdev0.conf")
	stdout, stderr, code := runDevice(t, env, "issue", "-role", "enrolled", "-config", conf,
		"-auth", "cert", "-client-cert", cert, "-client-key", key, "-cert-role", "fleet")
	require.Equal(t, 0, code, stderr)
	require.Regexp(t, `(?m)^common_name +device-0042$`, stdout)
	serial := regexp.MustCompile(`(?m)^serial_number +(\S+)`).FindStringSubmatch(stdout)[1]
	rec, err := s.root.Logical().Read("wg/cert/" + serial)
	require.NoError(t, err)
	require.Equal(t, "device-0042", rec.Data["common_name"])
	require.Contains(t, rec.Data["auth_mounts"], "cert:"+accessor)
	pemText, err := os.ReadFile(pemPathOf(conf))
	require.NoError(t, err)
	require.Equal(t, rec.Data["certificate"], string(pemText))

	// The same without naming the certificate role: Vault finds it.
	_, stderr, code = runDevice(t, env, "issue", "-role", "enrolled", "-config", conf,
		"-auth", "cert", "-client-cert", cert, "-client-key", key)
	require.Equal(t, 0, code, stderr)

	// A certificate from a CA that auth/cert does not trust is refused.
	intruder, intruderKey := otherCA.issueClient(t, dir, "intruder")
	_, stderr, code = runDevice(t, env, "issue", "-role", "enrolled", "-config", filepath.Join(dir, "intruder.conf"),
		"-auth", "cert", "-client-cert", intruder, "-client-key", intruderKey, "-cert-role", "fleet")
	require.Equal(t, 1, code)
	t.Logf("refused device sees: %s", stderr)
	require.Contains(t, stderr, "wg-device: login refused: cert login at auth/cert: ")
	require.Contains(t, stderr, `check that `+intruder+` is current and signed by a CA that certificate role "fleet" of auth/cert trusts`)
	_, err = os.Stat(filepath.Join(dir, "intruder.conf"))
	require.ErrorIs(t, err, os.ErrNotExist, "nothing written for a refused device")
}

// authAccessor is the accessor of the auth method mounted at path ("cert/").
func authAccessor(t *testing.T, s *vaultServer, path string) string {
	t.Helper()
	auths, err := s.root.Sys().ListAuth()
	require.NoError(t, err)
	require.Contains(t, auths, path)
	return auths[path].Accessor
}

// pemPathOf is where wg-device puts the certificate beside a wg-quick file.
func pemPathOf(conf string) string { return strings.TrimSuffix(conf, ".conf") + ".pem" }

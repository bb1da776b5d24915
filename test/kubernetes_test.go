package test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// kubeAPIServerBinary finds kube-apiserver: $KUBE_APISERVER_BIN (make test
// sets it), else scripts/kube-apiserver.sh, which builds the pinned release
// from the Go module proxy the first time (a few minutes) and caches it.
func kubeAPIServerBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("KUBE_APISERVER_BIN"); p != "" {
		_, err := os.Stat(p)
		need(t, err == nil, "KUBE_APISERVER_BIN=%s: %v", p, err)
		return p
	}
	out, err := exec.Command("../scripts/kube-apiserver.sh").Output()
	need(t, err == nil, "no kube-apiserver: scripts/kube-apiserver.sh failed (%v); set KUBE_APISERVER_BIN or use make test", err)
	return strings.TrimSpace(string(out))
}

// A kubeCluster is etcd and a kube-apiserver on loopback: enough for
// service accounts, tokens (TokenRequest) and TokenReview, which is what
// Vault's Kubernetes auth method calls.
type kubeCluster struct {
	t          *testing.T
	dir        string
	url        string // https://127.0.0.1:port
	caFile     string // the API server's self-signed serving certificate
	kubeconfig string
}

// startKube starts etcd (Debian's etcd-server) and kube-apiserver with a
// self-signed serving certificate, a service-account signing key, RBAC and
// a static admin token for kubectl; both stop at the end of the test.
func startKube(t *testing.T) *kubeCluster {
	t.Helper()
	apiserver := kubeAPIServerBinary(t)
	etcd, err := exec.LookPath("etcd")
	need(t, err == nil, "no etcd on PATH (Debian: apt-get install etcd-server)")
	_, err = exec.LookPath("kubectl")
	need(t, err == nil, "no kubectl on PATH")

	k := &kubeCluster{t: t, dir: t.TempDir()}
	clientPort, peerPort := freePort(t), freePort(t)
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", clientPort)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", peerPort)
	startProcess(t, "etcd", etcd, "--name", "default", "--data-dir", filepath.Join(k.dir, "etcd"),
		"--listen-client-urls", etcdURL, "--advertise-client-urls", etcdURL,
		"--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL,
		"--initial-cluster", "default="+peerURL, "--log-level", "warn")
	require.Eventually(t, func() bool {
		resp, err := http.Get(etcdURL + "/health")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 30*time.Second, 100*time.Millisecond, "etcd never became healthy")

	certFile, keyFile := k.writeServingCert()
	saKey := k.writeKey("service-account.key")
	const adminToken = "admin-token-for-tests"
	tokens := filepath.Join(k.dir, "tokens.csv")
	require.NoError(t, os.WriteFile(tokens, []byte(adminToken+`,admin,admin,"system:masters"`+"\n"), 0o600))
	port := freePort(t)
	k.url = fmt.Sprintf("https://127.0.0.1:%d", port)
	startProcess(t, "kube-apiserver", apiserver,
		"--etcd-servers", etcdURL,
		"--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1", "--secure-port", fmt.Sprint(port),
		"--tls-cert-file", certFile, "--tls-private-key-file", keyFile, "--cert-dir", k.dir,
		"--service-account-issuer", "https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file", saKey, "--service-account-signing-key-file", saKey,
		"--service-cluster-ip-range", "10.96.0.0/24",
		"--authorization-mode", "RBAC", "--token-auth-file", tokens,
		"--enable-priority-and-fairness=false", "--v", "0")

	k.kubeconfig = filepath.Join(k.dir, "kubeconfig")
	require.NoError(t, os.WriteFile(k.kubeconfig, fmt.Appendf(nil, `apiVersion: v1
kind: Config
clusters:
- name: test
  cluster: {server: %q, certificate-authority: %q}
users:
- name: admin
  user: {token: %q}
contexts:
- name: test
  context: {cluster: test, user: admin}
current-context: test
`, k.url, k.caFile, adminToken), 0o600))

	// Ready when RBAC's bootstrap roles are in (readyz checks them).
	pool := x509.NewCertPool()
	caPEM, err := os.ReadFile(k.caFile)
	require.NoError(t, err)
	pool.AppendCertsFromPEM(caPEM)
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	require.Eventually(t, func() bool {
		req, _ := http.NewRequest(http.MethodGet, k.url+"/readyz", nil)
		req.Header.Set("Authorization", "Bearer "+adminToken)
		resp, err := client.Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 90*time.Second, 200*time.Millisecond, "kube-apiserver never became ready")
	return k
}

// startProcess starts a server process for the test, stopped (SIGTERM,
// then SIGKILL) at its end; its output is shown if the test failed.
func startProcess(t *testing.T, name, bin string, args ...string) {
	t.Helper()
	out := &syncBuffer{}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	require.NoError(t, cmd.Start(), "start %s", name)
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("%s output:\n%s", name, out)
		}
	})
}

// writeServingCert writes a self-signed certificate for 127.0.0.1 and its
// key; the certificate is also the CA that clients trust (k.caFile).
func (k *kubeCluster) writeServingCert() (certFile, keyFile string) {
	t := k.t
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "kube-apiserver"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true,
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	certFile = filepath.Join(k.dir, "apiserver.crt")
	require.NoError(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644))
	k.caFile = certFile
	return certFile, k.writeECKey("apiserver.key", key)
}

// writeKey writes a new EC private key to name.
func (k *kubeCluster) writeKey(name string) string {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(k.t, err)
	return k.writeECKey(name, key)
}

func (k *kubeCluster) writeECKey(name string, key *ecdsa.PrivateKey) string {
	der, err := x509.MarshalECPrivateKey(key)
	require.NoError(k.t, err)
	path := filepath.Join(k.dir, name)
	require.NoError(k.t, os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600))
	return path
}

// kubectl runs kubectl as the cluster admin; it must succeed.
func (k *kubeCluster) kubectl(args ...string) string {
	k.t.Helper()
	ctx, cancel := context.WithTimeout(k.t.Context(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "kubectl", append([]string{"--kubeconfig", k.kubeconfig}, args...)...).CombinedOutput()
	require.NoError(k.t, err, "kubectl %s:\n%s", strings.Join(args, " "), out)
	return string(out)
}

// tokenFile writes a token for a service account (TokenRequest API, as
// `kubectl create token` makes one) to a file, as a pod would have it
// mounted.
func (k *kubeCluster) tokenFile(namespace, account string) string {
	k.t.Helper()
	token := strings.TrimSpace(k.kubectl("create", "token", account, "-n", namespace, "--duration", "1h"))
	path := filepath.Join(k.dir, namespace+"-"+account+".token")
	require.NoError(k.t, os.WriteFile(path, []byte(token), 0o600))
	return path
}

// TestKubernetesWorkloadIdentity shows a workload getting a WireGuard
// certificate as itself: a pod's service account logs in through Vault's
// Kubernetes auth (which asks a real kube-apiserver's TokenReview), and the
// certificate's CN is namespace/serviceaccount, the role's default common
// name for a Kubernetes login. A service account the Vault role is not
// bound to is refused.
func TestKubernetesWorkloadIdentity(t *testing.T) {
	s := startVault(t)
	setUpEngine(t, s)
	k := startKube(t)

	k.kubectl("create", "namespace", "fleet")
	k.kubectl("create", "serviceaccount", "laptop-7", "-n", "fleet")
	k.kubectl("create", "serviceaccount", "intruder", "-n", "fleet")
	k.kubectl("create", "serviceaccount", "vault-reviewer", "-n", "kube-system")
	k.kubectl("create", "clusterrolebinding", "vault-reviewer", "--clusterrole", "system:auth-delegator",
		"--serviceaccount", "kube-system:vault-reviewer")
	reviewer, err := os.ReadFile(k.tokenFile("kube-system", "vault-reviewer"))
	require.NoError(t, err)

	s.cli("auth", "enable", "kubernetes")
	s.cli("write", "auth/kubernetes/config", "kubernetes_host="+k.url, "kubernetes_ca_cert=@"+k.caFile,
		"token_reviewer_jwt="+string(reviewer))
	require.NoError(t, s.root.Sys().PutPolicy("workload", `path "wg/issue/workload" { capabilities = ["update"] }`))
	s.cli("write", "auth/kubernetes/role/laptops", "bound_service_account_names=laptop-7",
		"bound_service_account_namespaces=fleet", "token_policies=workload", "token_ttl=2h")
	acc := authAccessor(t, s, "kubernetes/")
	s.cli("write", "wg/roles/workload", "gateway=gw1", "ttl=1h")

	dir := t.TempDir()
	env := []string{"VAULT_ADDR=" + s.addr}
	stdout, stderr, code := runDevice(t, env, "issue", "-role", "workload", "-config", filepath.Join(dir, "wg0.conf"),
		"-auth", "kubernetes", "-k8s-role", "laptops", "-k8s-token-file", k.tokenFile("fleet", "laptop-7"))
	require.Equal(t, 0, code, stderr)
	require.Regexp(t, `(?m)^common_name +fleet/laptop-7$`, stdout)
	serial := regexp.MustCompile(`(?m)^serial_number +(\S+)`).FindStringSubmatch(stdout)[1]
	rec, err := s.root.Logical().Read("wg/cert/" + serial)
	require.NoError(t, err)
	require.Equal(t, "fleet/laptop-7", rec.Data["common_name"])
	require.Contains(t, rec.Data["auth_mounts"], "kubernetes:"+acc)
	conf, err := os.ReadFile(filepath.Join(dir, "wg0.conf"))
	require.NoError(t, err)
	require.Contains(t, string(conf), "for fleet/laptop-7")

	// Another service account of the same namespace is not bound to the role.
	_, stderr, code = runDevice(t, env, "issue", "-role", "workload", "-config", filepath.Join(dir, "intruder.conf"),
		"-auth", "kubernetes", "-k8s-role", "laptops", "-k8s-token-file", k.tokenFile("fleet", "intruder"))
	t.Logf("refused service account sees: %s", stderr)
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "wg-device: login refused: kubernetes login at auth/kubernetes: ")
	require.Contains(t, stderr, `is bound to Vault role "laptops" (bound_service_account_names and _namespaces of auth/kubernetes/role/laptops)`)
	_, err = os.Stat(filepath.Join(dir, "intruder.conf"))
	require.ErrorIs(t, err, os.ErrNotExist)
}

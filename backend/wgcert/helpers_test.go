package wgcert

import (
	"crypto"
	"crypto/x509"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/wgkey"
)

// testNow is the time at which the tests look at their certificates.
var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// A testCA is a CA certificate with its key.
type testCA struct {
	Cert   *x509.Certificate
	Signer crypto.Signer
}

// newCA generates a CA valid from a day before testNow for ten years.
func newCA(t testing.TB, keyType, commonName string) testCA {
	t.Helper()
	certDER, keyDER, err := GenerateCA(keyType, commonName, testNow.Add(-24*time.Hour), testNow.AddDate(10, 0, 0))
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(certDER)
	require.NoError(t, err)
	signer, err := ParsePKCS8Signer(keyDER)
	require.NoError(t, err)
	return testCA{Cert: cert, Signer: signer}
}

// newKey returns a new WireGuard public key.
func newKey(t testing.TB) wgtypes.Key {
	t.Helper()
	_, pub, err := wgkey.Generate()
	require.NoError(t, err)
	return pub
}

// newTemplate returns a template for key valid an hour around testNow,
// with an IPv4 and an IPv6 address and two gateways.
func newTemplate(t testing.TB, key wgtypes.Key) *Template {
	t.Helper()
	serial, err := NewSerial()
	require.NoError(t, err)
	return &Template{
		SerialNumber: serial,
		CommonName:   "alice@example.com",
		PublicKey:    key,
		Addresses:    []netip.Addr{netip.MustParseAddr("10.77.0.2"), netip.MustParseAddr("fd77::2")},
		Gateways:     []string{"gw1", "gw-2.example"},
		NotBefore:    testNow.Add(-time.Minute),
		NotAfter:     testNow.Add(time.Hour),
	}
}

// issue creates and parses a certificate from tmpl signed by ca.
func issue(t testing.TB, ca testCA, tmpl *Template) *Certificate {
	t.Helper()
	der, err := Create(tmpl, ca.Cert, ca.Signer)
	require.NoError(t, err)
	c, err := Parse(der)
	require.NoError(t, err)
	return c
}

// openssl returns the path of the openssl binary. Without one the test is
// skipped, or fails when WG_REQUIRE_ALL is set (as in CI).
func openssl(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("openssl")
	if err != nil {
		if os.Getenv("WG_REQUIRE_ALL") != "" {
			t.Fatalf("openssl is not on PATH and WG_REQUIRE_ALL is set: %v", err)
		}
		t.Skip("openssl is not on PATH; set WG_REQUIRE_ALL=1 to make this a failure")
	}
	return path
}

// run runs a command and returns its combined output, failing the test
// when it exits non-zero.
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := runErr(name, args...)
	require.NoError(t, err, "%s %q:\n%s", name, args, out)
	return out
}

// runErr runs a command and returns its combined output and exit error.
func runErr(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).CombinedOutput()
	return string(out), err
}

// writeFile writes data to name in dir and returns its path.
func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(path, data, 0o600))
	return path
}

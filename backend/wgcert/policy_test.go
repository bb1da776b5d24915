package wgcert

import (
	"crypto/x509"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/wgpolicy"
)

// policy parses entries or fails the test.
func policy(t testing.TB, entries ...string) []wgpolicy.Destination {
	t.Helper()
	ds, err := wgpolicy.Parse(entries)
	require.NoError(t, err)
	return ds
}

// texts returns the text of each destination.
func texts(ds []wgpolicy.Destination) []string {
	out := []string{}
	for _, d := range ds {
		out = append(out, d.String())
	}
	return out
}

func TestPolicyRoundTrip(t *testing.T) {
	ca := newCA(t, KeyTypeEd25519, "test CA")
	tmpl := newTemplate(t, newKey(t))
	tmpl.Destinations = policy(t, "fd00::/64:443/tcp", "10.30.0.5/32:443/tcp", "10.20.0.0/24", "10.30.0.0/24:icmp", "10.20.0.0/24")
	c := issue(t, ca, tmpl)

	require.True(t, c.HasPolicy)
	require.Equal(t, []string{"10.20.0.0/24", "10.30.0.0/24:icmp", "10.30.0.5/32:443/tcp", "fd00::/64:443/tcp"}, texts(c.Destinations))
	var ext int
	for _, e := range c.X509.Extensions {
		if e.Id.Equal(wgpolicy.OID) {
			ext++
			require.False(t, e.Critical, "the access policy extension must be non-critical")
		}
	}
	require.Equal(t, 1, ext)
	require.Empty(t, c.X509.UnhandledCriticalExtensions)
	require.NoError(t, Verify(testNow, c, VerifyOptions{Roots: []*x509.Certificate{ca.Cert}}))

	// Without destinations there is no extension: today's certificates.
	plain := issue(t, ca, newTemplate(t, newKey(t)))
	require.False(t, plain.HasPolicy)
	require.Empty(t, plain.Destinations)
	for _, e := range plain.X509.Extensions {
		require.False(t, e.Id.Equal(wgpolicy.OID))
	}
}

func TestCreateRejectsBadPolicy(t *testing.T) {
	ca := newCA(t, KeyTypeEd25519, "test CA")
	tmpl := newTemplate(t, newKey(t))
	tmpl.Destinations = []wgpolicy.Destination{{Prefix: policy(t, "10.0.0.0/8")[0].Prefix, Proto: wgpolicy.ProtoTCP}} // no port
	_, err := Create(tmpl, ca.Cert, ca.Signer)
	require.ErrorIs(t, err, ErrInvalidTemplate)
	require.ErrorIs(t, err, wgpolicy.ErrMalformed)
}

// signWithPolicy signs a certificate for tmpl whose access policy
// extension holds value as it is, as a CA with a bug (or a forger with
// the CA key) could.
func signWithPolicy(t *testing.T, ca testCA, tmpl *Template, value []byte) []byte {
	t.Helper()
	alg, err := signatureAlgorithmFor(ca.Signer.Public())
	require.NoError(t, err)
	tbs, err := tmpl.marshalTBS(ca.Cert, alg, value)
	require.NoError(t, err)
	sig, err := alg.sign(ca.Signer, tbs)
	require.NoError(t, err)
	der, err := marshalCertificate(tbs, alg, sig)
	require.NoError(t, err)
	return der
}

func TestBadPolicyIsRejected(t *testing.T) {
	ca := newCA(t, KeyTypeEd25519, "test CA")
	good, err := wgpolicy.Marshal(policy(t, "10.20.0.0/24"))
	require.NoError(t, err)
	for name, value := range map[string][]byte{
		"garbage":        {0x01, 0x02},
		"empty sequence": {0x30, 0x00},
		"trailing byte":  append(append([]byte{}, good...), 0),
	} {
		t.Run(name, func(t *testing.T) {
			der := signWithPolicy(t, ca, newTemplate(t, newKey(t)), value)
			_, err := Parse(der)
			require.ErrorIs(t, err, ErrBadPolicy)

			// Verify reads the signed certificate, not what a caller parsed.
			x, err := x509.ParseCertificate(der)
			require.NoError(t, err, "crypto/x509 itself accepts the certificate")
			err = Verify(testNow, &Certificate{X509: x}, VerifyOptions{Roots: []*x509.Certificate{ca.Cert}})
			require.ErrorIs(t, err, ErrBadPolicy)
		})
	}
	t.Run("the same certificate with a good value passes", func(t *testing.T) {
		c, err := Parse(signWithPolicy(t, ca, newTemplate(t, newKey(t)), good))
		require.NoError(t, err)
		require.True(t, c.HasPolicy)
		require.NoError(t, Verify(testNow, c, VerifyOptions{Roots: []*x509.Certificate{ca.Cert}}))
	})
}

// TestOpenSSLShowsPolicy checks what a user sees: openssl still verifies a
// certificate with the (non-critical, unknown to it) policy extension, and
// `openssl x509 -text` shows the extension's OID with its DER.
func TestOpenSSLShowsPolicy(t *testing.T) {
	bin := openssl(t)
	ca := newCA(t, KeyTypeEd25519, "test CA")
	tmpl := newTemplate(t, newKey(t))
	tmpl.Destinations = policy(t, "10.20.0.0/24", "10.30.0.5/32:443/tcp")
	c := issue(t, ca, tmpl)
	dir := t.TempDir()
	caPath := writeFile(t, dir, "ca.pem", []byte(EncodePEM(ca.Cert.Raw)))
	certPath := writeFile(t, dir, "cert.pem", []byte(EncodePEM(c.X509.Raw)))

	out := run(t, bin, "verify", "-x509_strict", "-attime", strconv.FormatInt(testNow.Unix(), 10), "-CAfile", caPath, certPath)
	require.Contains(t, out, certPath+": OK")
	text := run(t, bin, "x509", "-in", certPath, "-text", "-noout")
	require.Contains(t, text, wgpolicy.OID.String()+":")
	require.NotContains(t, text, wgpolicy.OID.String()+": critical")
	// The value as openssl dumps it: "0&0...." then the hex of the DER.
	require.Contains(t, text, "0&0")
}

package wgcert

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/wgpolicy"
)

// A fuzzFixture is a fixed CA and a certificate it issued. It is the same
// on every run, so that a saved crasher reproduces.
type fuzzFixture struct {
	ca   *x509.Certificate
	cert *Certificate
}

func newFuzzFixture(tb testing.TB) fuzzFixture {
	tb.Helper()
	caKey := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{0x01}, ed25519.SeedSize))
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "fuzz CA"},
		NotBefore:             testNow.AddDate(-1, 0, 0),
		NotAfter:              testNow.AddDate(1, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	require.NoError(tb, err)
	ca, err := x509.ParseCertificate(caDER)
	require.NoError(tb, err)

	key := wgtypes.Key(bytes.Repeat([]byte{0x02}, wgtypes.KeyLen)).PublicKey()
	der, err := Create(&Template{
		SerialNumber: big.NewInt(42),
		CommonName:   "fuzz@example.com",
		PublicKey:    key,
		Addresses:    []netip.Addr{netip.MustParseAddr("10.77.0.2"), netip.MustParseAddr("fd77::2")},
		Gateways:     []string{"gw1"},
		NotBefore:    testNow.Add(-time.Hour),
		NotAfter:     testNow.Add(time.Hour),
		Destinations: policy(tb, "10.20.0.0/24", "10.30.0.5/32:443/tcp"),
	}, ca, caKey)
	require.NoError(tb, err)
	cert, err := Parse(der)
	require.NoError(tb, err)
	require.NoError(tb, Verify(testNow, cert, VerifyOptions{Roots: []*x509.Certificate{ca}}))
	return fuzzFixture{ca: ca, cert: cert}
}

// flip returns a copy of der with the byte at i inverted.
func flip(der []byte, i int) []byte {
	out := bytes.Clone(der)
	out[i] ^= 0xff
	return out
}

// FuzzParse checks that Parse never panics and that whatever it accepts
// has an X25519 key of 32 bytes read from the SubjectPublicKeyInfo.
func FuzzParse(f *testing.F) {
	fx := newFuzzFixture(f)
	der := fx.cert.X509.Raw
	f.Add(der)
	f.Add(fx.ca.Raw)
	f.Add([]byte{})
	f.Add([]byte{0x30, 0x00})
	f.Add(der[:len(der)/2])
	f.Add(flip(der, bytes.Index(der, fx.cert.PublicKey[:])-2)) // the BIT STRING length of the key
	f.Add(flip(der, len(der)-1))

	f.Fuzz(func(t *testing.T, der []byte) {
		c, err := Parse(der)
		if err != nil {
			require.Nil(t, c)
			return
		}
		pub, err := x509.ParsePKIXPublicKey(c.X509.RawSubjectPublicKeyInfo)
		require.NoError(t, err)
		k, ok := pub.(*ecdh.PublicKey)
		require.True(t, ok, "accepted a %T key", pub)
		require.Len(t, k.Bytes(), wgtypes.KeyLen)
		require.Equal(t, k.Bytes(), c.PublicKey[:])
		require.Len(t, c.Addresses, len(c.X509.IPAddresses))
		if c.HasPolicy {
			again, err := wgpolicy.Marshal(c.Destinations)
			require.NoError(t, err, "an accepted policy encodes again")
			_, err = wgpolicy.Unmarshal(again)
			require.NoError(t, err)
		} else {
			require.Empty(t, c.Destinations)
		}
		for _, a := range c.Addresses {
			require.True(t, a.IsValid())
		}
		// Verify must not panic on anything Parse accepts.
		_ = Verify(testNow, c, VerifyOptions{
			Roots:     []*x509.Certificate{fx.ca},
			Gateway:   "gw1",
			PublicKey: &fx.cert.PublicKey,
			Pools:     []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
		})
	})
}

// FuzzVerify mutates a valid certificate: whenever Parse and Verify still
// accept it, it must say what the original said.
func FuzzVerify(f *testing.F) {
	fx := newFuzzFixture(f)
	der := fx.cert.X509.Raw
	f.Add(der)
	for _, needle := range [][]byte{
		fx.cert.PublicKey[:],
		{10, 77, 0, 2},
		[]byte("gw1"),
		[]byte("fuzz@example.com"),
		{10, 30, 0, 5}, // in the access policy
		fx.cert.X509.Signature,
	} {
		i := bytes.Index(der, needle)
		require.GreaterOrEqual(f, i, 0)
		f.Add(flip(der, i))
	}

	opts := VerifyOptions{Roots: []*x509.Certificate{fx.ca}} // only the signature stands in the way
	f.Fuzz(func(t *testing.T, der []byte) {
		c, err := Parse(der)
		if err != nil {
			return
		}
		if Verify(testNow, c, opts) != nil {
			return
		}
		want := fx.cert
		require.Equal(t, want.X509.RawTBSCertificate, c.X509.RawTBSCertificate)
		require.Equal(t, want.PublicKey, c.PublicKey)
		require.Equal(t, want.Addresses, c.Addresses)
		require.Equal(t, want.Gateways, c.Gateways)
		require.Equal(t, want.Destinations, c.Destinations)
		require.True(t, c.HasPolicy)
		require.Equal(t, want.CommonName, c.CommonName)
		require.True(t, want.NotAfter.Equal(c.NotAfter))
	})
}

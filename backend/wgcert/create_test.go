package wgcert

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/wgkey"
)

func TestGatewayURI(t *testing.T) {
	require.Equal(t, "urn:wireguard:gateway:gw1", GatewayURI("gw1"))
}

func TestNewSerial(t *testing.T) {
	seen := make(map[string]bool)
	for range 100 {
		n, err := NewSerial()
		require.NoError(t, err)
		require.Positive(t, n.Sign())
		require.LessOrEqual(t, n.BitLen(), 128)
		require.False(t, seen[n.String()], "serial %s repeated", n)
		seen[n.String()] = true
	}
}

func TestCreateParseRoundTrip(t *testing.T) {
	tests := []struct {
		name       string
		keyType    string
		change     func(*Template)
		wantSigAlg x509.SignatureAlgorithm
		wantTimes  [2]cbasn1.Tag // encodings of NotBefore and NotAfter
	}{
		{
			name:       "ed25519 CA",
			keyType:    KeyTypeEd25519,
			wantSigAlg: x509.PureEd25519,
			wantTimes:  [2]cbasn1.Tag{cbasn1.UTCTime, cbasn1.UTCTime},
		},
		{
			name:       "ECDSA P-256 CA",
			keyType:    KeyTypeEC,
			wantSigAlg: x509.ECDSAWithSHA256,
			wantTimes:  [2]cbasn1.Tag{cbasn1.UTCTime, cbasn1.UTCTime},
		},
		{
			name:       "default CA key type",
			keyType:    "",
			wantSigAlg: x509.PureEd25519,
			wantTimes:  [2]cbasn1.Tag{cbasn1.UTCTime, cbasn1.UTCTime},
		},
		{
			name:    "validity across 2050, fractions of seconds",
			keyType: KeyTypeEC,
			change: func(tmpl *Template) {
				tmpl.NotBefore = time.Date(2049, 12, 31, 23, 59, 59, 500_000_000, time.UTC)
				tmpl.NotAfter = time.Date(2051, 6, 1, 0, 0, 0, 0, time.FixedZone("UTC+2", 2*3600))
			},
			wantSigAlg: x509.ECDSAWithSHA256,
			wantTimes:  [2]cbasn1.Tag{cbasn1.UTCTime, cbasn1.GeneralizedTime},
		},
		{
			name:    "one IPv4 address, no gateway",
			keyType: KeyTypeEd25519,
			change: func(tmpl *Template) {
				tmpl.Addresses = []netip.Addr{netip.MustParseAddr("10.77.0.9")}
				tmpl.Gateways = nil
			},
			wantSigAlg: x509.PureEd25519,
			wantTimes:  [2]cbasn1.Tag{cbasn1.UTCTime, cbasn1.UTCTime},
		},
		{
			name:    "no SANs, unicode common name",
			keyType: KeyTypeEd25519,
			change: func(tmpl *Template) {
				tmpl.Addresses, tmpl.Gateways = nil, nil
				tmpl.CommonName = "Zoë's phone"
			},
			wantSigAlg: x509.PureEd25519,
			wantTimes:  [2]cbasn1.Tag{cbasn1.UTCTime, cbasn1.UTCTime},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ca := newCA(t, tt.keyType, "test CA")
			key := newKey(t)
			tmpl := newTemplate(t, key)
			if tt.change != nil {
				tt.change(tmpl)
			}
			c := issue(t, ca, tmpl)

			require.Equal(t, key, c.PublicKey)
			require.Equal(t, tmpl.CommonName, c.CommonName)
			require.Equal(t, tmpl.Addresses, c.Addresses)
			require.Equal(t, tmpl.Gateways, c.Gateways)
			require.Zero(t, tmpl.SerialNumber.Cmp(c.SerialNumber))
			require.True(t, c.NotBefore.Equal(tmpl.NotBefore.Truncate(time.Second)), "NotBefore %s", c.NotBefore)
			require.True(t, c.NotAfter.Equal(tmpl.NotAfter.Truncate(time.Second)), "NotAfter %s", c.NotAfter)

			x := c.X509
			require.Equal(t, 3, x.Version)
			require.Equal(t, tt.wantSigAlg, x.SignatureAlgorithm)
			require.Equal(t, x509.UnknownPublicKeyAlgorithm, x.PublicKeyAlgorithm)
			require.NoError(t, x.CheckSignatureFrom(ca.Cert))
			require.Equal(t, ca.Cert.RawSubject, x.RawIssuer)
			require.True(t, bytes.Contains(x.RawSubject, append([]byte{0x0c, byte(len(tmpl.CommonName))}, tmpl.CommonName...)),
				"common name is not a UTF8String")
			// RFC 8410, section 10.1: the whole SubjectPublicKeyInfo of an X25519 key.
			wantSPKI := append([]byte{0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x03, 0x21, 0x00}, key[:]...)
			require.Equal(t, wantSPKI, x.RawSubjectPublicKeyInfo)
			require.Equal(t, x509.KeyUsageKeyAgreement, x.KeyUsage)
			require.True(t, x.BasicConstraintsValid)
			require.False(t, x.IsCA)
			ski := sha1.Sum(key[:])
			require.Equal(t, ski[:], x.SubjectKeyId)
			require.NotEmpty(t, ca.Cert.SubjectKeyId)
			require.Equal(t, ca.Cert.SubjectKeyId, x.AuthorityKeyId)

			wantCritical := map[string]bool{
				"2.5.29.15": true,  // key usage
				"2.5.29.19": true,  // basic constraints
				"2.5.29.14": false, // subject key identifier
				"2.5.29.35": false, // authority key identifier
			}
			if len(tmpl.Addresses)+len(tmpl.Gateways) > 0 {
				wantCritical["2.5.29.17"] = false // subject alternative name
			}
			gotCritical := make(map[string]bool)
			for _, e := range x.Extensions {
				gotCritical[e.Id.String()] = e.Critical
			}
			require.Equal(t, wantCritical, gotCritical)
			require.Equal(t, tt.wantTimes, validityTags(t, x.RawTBSCertificate))
		})
	}
}

// validityTags returns the ASN.1 tags of NotBefore and NotAfter in tbs.
func validityTags(t *testing.T, tbs []byte) [2]cbasn1.Tag {
	t.Helper()
	in := cryptobyte.String(tbs)
	var body, validity, skipped cryptobyte.String
	var tags [2]cbasn1.Tag
	ok := in.ReadASN1(&body, cbasn1.SEQUENCE) &&
		body.SkipASN1(cbasn1.Tag(0).Constructed().ContextSpecific()) &&
		body.SkipASN1(cbasn1.INTEGER) &&
		body.SkipASN1(cbasn1.SEQUENCE) &&
		body.SkipASN1(cbasn1.SEQUENCE) &&
		body.ReadASN1(&validity, cbasn1.SEQUENCE) &&
		validity.ReadAnyASN1(&skipped, &tags[0]) &&
		validity.ReadAnyASN1(&skipped, &tags[1])
	require.True(t, ok, "malformed TBSCertificate")
	return tags
}

func TestCreateRejects(t *testing.T) {
	ca := newCA(t, KeyTypeEd25519, "test CA")
	other := newCA(t, KeyTypeEd25519, "other CA")
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	require.NoError(t, err)

	tests := []struct {
		name    string
		change  func(*Template)
		ca      testCA
		wantErr []error // each must match with errors.Is
		wantMsg string
	}{
		{name: "nil serial", change: func(tm *Template) { tm.SerialNumber = nil },
			wantErr: []error{ErrInvalidTemplate}, wantMsg: "serial number must be positive"},
		{name: "zero serial", change: func(tm *Template) { tm.SerialNumber = big.NewInt(0) },
			wantErr: []error{ErrInvalidTemplate}, wantMsg: "serial number must be positive"},
		{name: "negative serial", change: func(tm *Template) { tm.SerialNumber = big.NewInt(-5) },
			wantErr: []error{ErrInvalidTemplate}, wantMsg: "serial number must be positive"},
		{name: "21-octet serial", change: func(tm *Template) { tm.SerialNumber = new(big.Int).Lsh(big.NewInt(1), 160) },
			wantErr: []error{ErrInvalidTemplate}, wantMsg: "longer than 20 octets"},
		{name: "empty common name", change: func(tm *Template) { tm.CommonName = "" },
			wantErr: []error{ErrInvalidTemplate}, wantMsg: "empty common name"},
		{name: "common name not UTF-8", change: func(tm *Template) { tm.CommonName = "a\xffb" },
			wantErr: []error{ErrInvalidTemplate}, wantMsg: "not valid UTF-8"},
		{name: "NotAfter equals NotBefore", change: func(tm *Template) { tm.NotAfter = tm.NotBefore },
			wantErr: []error{ErrInvalidTemplate}, wantMsg: "is not after NotBefore"},
		{name: "NotAfter before NotBefore", change: func(tm *Template) { tm.NotAfter = tm.NotBefore.Add(-time.Hour) },
			wantErr: []error{ErrInvalidTemplate}, wantMsg: "is not after NotBefore"},
		{name: "same second once truncated", change: func(tm *Template) {
			tm.NotBefore = testNow.Add(100 * time.Millisecond)
			tm.NotAfter = testNow.Add(900 * time.Millisecond)
		}, wantErr: []error{ErrInvalidTemplate}, wantMsg: "is not after NotBefore"},
		{name: "NotAfter after year 9999", change: func(tm *Template) { tm.NotAfter = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) },
			wantMsg: "encode certificate"},
		{name: "all-zero key", change: func(tm *Template) { tm.PublicKey = wgtypes.Key{} },
			wantErr: []error{ErrInvalidTemplate, wgkey.ErrLowOrder}, wantMsg: "public key AAAA"},
		{name: "zero address", change: func(tm *Template) { tm.Addresses = append(tm.Addresses, netip.Addr{}) },
			wantErr: []error{ErrInvalidTemplate}, wantMsg: "invalid (zero) address"},
		{name: "IPv4-mapped address", change: func(tm *Template) { tm.Addresses = []netip.Addr{netip.MustParseAddr("::ffff:10.77.0.2")} },
			wantErr: []error{ErrInvalidTemplate}, wantMsg: "address ::ffff:10.77.0.2 is IPv4-mapped"},
		{name: "address with zone", change: func(tm *Template) { tm.Addresses = []netip.Addr{netip.MustParseAddr("fe80::1%wg0")} },
			wantErr: []error{ErrInvalidTemplate}, wantMsg: "has a zone"},
		{name: "empty gateway name", change: func(tm *Template) { tm.Gateways = []string{""} },
			wantErr: []error{ErrInvalidTemplate}, wantMsg: `gateway name ""`},
		{name: "gateway name with a slash", change: func(tm *Template) { tm.Gateways = []string{"a/b"} },
			wantErr: []error{ErrInvalidTemplate}, wantMsg: `gateway name "a/b"`},
		{name: "gateway name with a space", change: func(tm *Template) { tm.Gateways = []string{"a b"} },
			wantErr: []error{ErrInvalidTemplate}, wantMsg: `gateway name "a b"`},
		{name: "P-384 CA key", ca: testCA{Cert: ca.Cert, Signer: p384},
			wantErr: []error{ErrUnsupportedKey}, wantMsg: "ECDSA on P-384, want P-256"},
		{name: "key of another CA", ca: testCA{Cert: ca.Cert, Signer: other.Signer},
			wantErr: []error{ErrInvalidCA}, wantMsg: "does not match the CA certificate"},
		{name: "no CA", ca: testCA{Signer: ca.Signer},
			wantErr: []error{ErrInvalidCA}, wantMsg: "missing CA certificate"},
		{name: "issuer is not a CA", ca: notCA(t),
			wantMsg: "the issuer is not a CA"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmpl := newTemplate(t, newKey(t))
			if tt.change != nil {
				tt.change(tmpl)
			}
			issuer := ca
			if tt.ca.Signer != nil {
				issuer = tt.ca
			}
			der, err := Create(tmpl, issuer.Cert, issuer.Signer)
			require.Error(t, err)
			require.Nil(t, der)
			for _, want := range tt.wantErr {
				require.True(t, errors.Is(err, want), "error %q is not %q", err, want)
			}
			require.Contains(t, err.Error(), tt.wantMsg)
		})
	}

	t.Run("nil template", func(t *testing.T) {
		_, err := Create(nil, ca.Cert, ca.Signer)
		require.ErrorIs(t, err, ErrInvalidTemplate)
	})
}

// notCA returns an Ed25519 certificate with basicConstraints cA FALSE.
func notCA(t *testing.T) testCA {
	t.Helper()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(7),
		Subject:               pkix.Name{CommonName: "not a CA"},
		NotBefore:             testNow.Add(-time.Hour),
		NotAfter:              testNow.Add(time.Hour),
		BasicConstraintsValid: true,
		SubjectKeyId:          []byte{1, 2, 3},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return testCA{Cert: cert, Signer: key}
}

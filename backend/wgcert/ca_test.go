package wgcert

import (
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestGenerateCA(t *testing.T) {
	tests := []struct {
		keyType string
		wantAlg x509.PublicKeyAlgorithm
	}{
		{"", x509.Ed25519},
		{KeyTypeEd25519, x509.Ed25519},
		{KeyTypeEC, x509.ECDSA},
	}
	for _, tt := range tests {
		t.Run("key type "+tt.keyType, func(t *testing.T) {
			certDER, keyDER, err := GenerateCA(tt.keyType, "Example WireGuard CA", testNow, testNow.AddDate(5, 0, 0))
			require.NoError(t, err)
			cert, err := x509.ParseCertificate(certDER)
			require.NoError(t, err)
			require.Equal(t, tt.wantAlg, cert.PublicKeyAlgorithm)
			require.Equal(t, "Example WireGuard CA", cert.Subject.CommonName)
			require.True(t, cert.BasicConstraintsValid)
			require.True(t, cert.IsCA)
			require.True(t, cert.MaxPathLenZero)
			require.Zero(t, cert.MaxPathLen)
			require.Equal(t, x509.KeyUsageCertSign|x509.KeyUsageCRLSign, cert.KeyUsage)
			require.NotEmpty(t, cert.SubjectKeyId)
			require.Positive(t, cert.SerialNumber.Sign())
			require.LessOrEqual(t, cert.SerialNumber.BitLen(), 128)
			require.True(t, cert.NotBefore.Equal(testNow))
			require.True(t, cert.NotAfter.Equal(testNow.AddDate(5, 0, 0)))
			require.NoError(t, cert.CheckSignatureFrom(cert))

			signer, err := ParsePKCS8Signer(keyDER)
			require.NoError(t, err)
			require.True(t, keysMatch(signer, cert.PublicKey))
		})
	}

	t.Run("rejects", func(t *testing.T) {
		_, _, err := GenerateCA("rsa", "CA", testNow, testNow.Add(time.Hour))
		require.ErrorIs(t, err, ErrUnsupportedKey)
		require.Contains(t, err.Error(), `key type "rsa", want "ed25519" or "ec"`)
		_, _, err = GenerateCA(KeyTypeEd25519, "", testNow, testNow.Add(time.Hour))
		require.ErrorIs(t, err, ErrInvalidCA)
		_, _, err = GenerateCA(KeyTypeEd25519, "CA", testNow, testNow)
		require.ErrorIs(t, err, ErrInvalidCA)
	})
}

func TestParseCABundle(t *testing.T) {
	edCert, edKeyDER := generateCAPEM(t, KeyTypeEd25519)
	ecCertDER, ecKeyDER, err := GenerateCA(KeyTypeEC, "EC CA", testNow, testNow.AddDate(1, 0, 0))
	require.NoError(t, err)
	ecCert := pemBlock("CERTIFICATE", ecCertDER)
	ecKey, err := x509.ParsePKCS8PrivateKey(ecKeyDER)
	require.NoError(t, err)
	sec1, err := x509.MarshalECPrivateKey(ecKey.(*ecdsa.PrivateKey))
	require.NoError(t, err)
	otherCert, _ := generateCAPEM(t, KeyTypeEd25519)

	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	require.NoError(t, err)
	p384DER, err := x509.MarshalPKCS8PrivateKey(p384)
	require.NoError(t, err)
	x25519, err := ecdh.X25519().GenerateKey(rand.Reader)
	require.NoError(t, err)
	x25519DER, err := x509.MarshalPKCS8PrivateKey(x25519)
	require.NoError(t, err)
	noCRLSign, noCRLSignKey := caWithoutCRLSign(t)
	leaf := notCA(t)
	leafKey, err := x509.MarshalPKCS8PrivateKey(leaf.Signer)
	require.NoError(t, err)

	tests := []struct {
		name    string
		bundle  string
		wantErr error
		wantMsg string
	}{
		{name: "Ed25519, PKCS#8", bundle: edCert + pemBlock("PRIVATE KEY", edKeyDER)},
		{name: "key first", bundle: pemBlock("PRIVATE KEY", edKeyDER) + edCert},
		{name: "ECDSA P-256, PKCS#8", bundle: ecCert + pemBlock("PRIVATE KEY", ecKeyDER)},
		{name: "ECDSA P-256, SEC 1 with EC PARAMETERS (openssl ecparam -genkey)",
			bundle: ecCert + pemBlock("EC PARAMETERS", []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07}) + pemBlock("EC PRIVATE KEY", sec1)},
		{name: "key of another CA", bundle: otherCert + pemBlock("PRIVATE KEY", edKeyDER),
			wantErr: ErrInvalidCA, wantMsg: "the private key does not match the certificate"},
		{name: "no key", bundle: edCert,
			wantErr: ErrInvalidCA, wantMsg: "bundle has 0 private keys, want 1"},
		{name: "two keys", bundle: edCert + pemBlock("PRIVATE KEY", edKeyDER) + pemBlock("PRIVATE KEY", edKeyDER),
			wantErr: ErrInvalidCA, wantMsg: "bundle has 2 private keys, want 1"},
		{name: "no certificate", bundle: pemBlock("PRIVATE KEY", edKeyDER),
			wantErr: ErrInvalidCA, wantMsg: "bundle has 0 certificates, want 1"},
		{name: "two certificates", bundle: edCert + otherCert + pemBlock("PRIVATE KEY", edKeyDER),
			wantErr: ErrInvalidCA, wantMsg: "bundle has 2 certificates, want 1"},
		{name: "not a CA", bundle: pemBlock("CERTIFICATE", leaf.Cert.Raw) + pemBlock("PRIVATE KEY", leafKey),
			wantErr: ErrInvalidCA, wantMsg: `certificate "CN=not a CA" is not a CA`},
		{name: "CA without cRLSign", bundle: pemBlock("CERTIFICATE", noCRLSign) + pemBlock("PRIVATE KEY", noCRLSignKey),
			wantErr: ErrInvalidCA, wantMsg: "lacks the cRLSign key usage"},
		{name: "P-384 key", bundle: edCert + pemBlock("PRIVATE KEY", p384DER),
			wantErr: ErrUnsupportedKey, wantMsg: "ECDSA on P-384"},
		{name: "X25519 key", bundle: edCert + pemBlock("PRIVATE KEY", x25519DER),
			wantErr: ErrUnsupportedKey, wantMsg: "*ecdh.PrivateKey cannot sign"},
		{name: "PKCS#1 RSA key", bundle: edCert + pemBlock("RSA PRIVATE KEY", []byte{0x30, 0x00}),
			wantErr: ErrInvalidCA, wantMsg: `unsupported PEM block "RSA PRIVATE KEY"`},
		{name: "corrupt key", bundle: edCert + pemBlock("PRIVATE KEY", []byte{0x30, 0x00}),
			wantErr: ErrInvalidCA, wantMsg: "parse PKCS#8 private key"},
		{name: "corrupt certificate", bundle: pemBlock("CERTIFICATE", []byte{0x30, 0x00}) + pemBlock("PRIVATE KEY", edKeyDER),
			wantErr: ErrInvalidCA, wantMsg: "parse certificate"},
		{name: "empty", bundle: "",
			wantErr: ErrInvalidCA, wantMsg: "0 certificates"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cert, signer, err := ParseCABundle([]byte(tt.bundle))
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				require.Contains(t, err.Error(), tt.wantMsg)
				require.Nil(t, cert)
				require.Nil(t, signer)
				return
			}
			require.NoError(t, err)
			// The imported CA can issue.
			c := issue(t, testCA{Cert: cert, Signer: signer}, newTemplate(t, newKey(t)))
			require.NoError(t, Verify(testNow, c, VerifyOptions{Roots: []*x509.Certificate{cert}}))
		})
	}
}

func TestParsePKCS8Signer(t *testing.T) {
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	edDER, err := x509.MarshalPKCS8PrivateKey(ed)
	require.NoError(t, err)
	signer, err := ParsePKCS8Signer(edDER)
	require.NoError(t, err)
	require.Equal(t, ed.Public(), signer.Public())

	_, err = ParsePKCS8Signer([]byte("junk"))
	require.ErrorIs(t, err, ErrInvalidCA)
}

func TestParseCertificatesPEM(t *testing.T) {
	a, _ := generateCAPEM(t, KeyTypeEd25519)
	b, _ := generateCAPEM(t, KeyTypeEC)

	certs, err := ParseCertificatesPEM([]byte(a + pemBlock("PRIVATE KEY", []byte{1}) + b))
	require.NoError(t, err)
	require.Len(t, certs, 2)
	require.Equal(t, x509.Ed25519, certs[0].PublicKeyAlgorithm)
	require.Equal(t, x509.ECDSA, certs[1].PublicKeyAlgorithm)

	_, err = ParseCertificatesPEM([]byte("no PEM here"))
	require.ErrorIs(t, err, ErrNoCertificate)

	_, err = ParseCertificatesPEM([]byte(a + pemBlock("CERTIFICATE", []byte{0x30, 0x00})))
	require.ErrorContains(t, err, "parse certificate 2")
}

// generateCAPEM returns a new CA certificate as PEM and its PKCS#8 key.
func generateCAPEM(t *testing.T, keyType string) (certPEM string, keyDER []byte) {
	t.Helper()
	certDER, keyDER, err := GenerateCA(keyType, "CA "+keyType, testNow, testNow.AddDate(1, 0, 0))
	require.NoError(t, err)
	return pemBlock("CERTIFICATE", certDER), keyDER
}

// caWithoutCRLSign returns a CA certificate whose key usage is keyCertSign
// only, and its PKCS#8 key.
func caWithoutCRLSign(t *testing.T) (certDER, keyDER []byte) {
	t.Helper()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(3),
		Subject:               pkix.Name{CommonName: "no CRLs"},
		NotBefore:             testNow,
		NotAfter:              testNow.AddDate(1, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	certDER, err = x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	require.NoError(t, err)
	keyDER, err = x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	return certDER, keyDER
}

// pemBlock encodes one PEM block.
func pemBlock(typ string, der []byte) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
}

func TestCrossSign(t *testing.T) {
	for _, tt := range []struct{ oldType, newType string }{
		{KeyTypeEd25519, KeyTypeEC},
		{KeyTypeEC, KeyTypeEd25519},
		{KeyTypeEd25519, KeyTypeEd25519},
	} {
		t.Run(tt.oldType+" signs "+tt.newType, func(t *testing.T) {
			old := newCA(t, tt.oldType, "old CA")
			next := newCA(t, tt.newType, "new CA")
			der, err := CrossSign(next.Cert, old.Cert, old.Signer)
			require.NoError(t, err)
			cross, err := x509.ParseCertificate(der)
			require.NoError(t, err)

			require.Equal(t, next.Cert.RawSubject, cross.RawSubject)
			require.Equal(t, next.Cert.RawSubjectPublicKeyInfo, cross.RawSubjectPublicKeyInfo)
			require.Equal(t, next.Cert.SubjectKeyId, cross.SubjectKeyId)
			require.Equal(t, old.Cert.RawSubject, cross.RawIssuer)
			require.Equal(t, old.Cert.SubjectKeyId, cross.AuthorityKeyId)
			require.True(t, cross.BasicConstraintsValid)
			require.True(t, cross.IsCA)
			require.True(t, cross.MaxPathLenZero)
			require.Equal(t, x509.KeyUsageCertSign|x509.KeyUsageCRLSign, cross.KeyUsage)
			require.NoError(t, cross.CheckSignatureFrom(old.Cert))
			require.False(t, SelfSigned(cross))
			require.True(t, SelfSigned(next.Cert))

			// A leaf of the new CA chains to the old one through it.
			leaf := issue(t, next, newTemplate(t, newKey(t)))
			require.NoError(t, leaf.X509.CheckSignatureFrom(cross))
		})
	}

	t.Run("same name is still not self-signed", func(t *testing.T) {
		old, next := newCA(t, KeyTypeEd25519, "CA"), newCA(t, KeyTypeEd25519, "CA")
		der, err := CrossSign(next.Cert, old.Cert, old.Signer)
		require.NoError(t, err)
		cross, err := x509.ParseCertificate(der)
		require.NoError(t, err)
		require.Equal(t, cross.RawSubject, cross.RawIssuer)
		require.Equal(t, old.Cert.SubjectKeyId, cross.AuthorityKeyId, "the AKI even when the names are equal")
		require.False(t, SelfSigned(cross))
	})

	t.Run("validity within both CAs", func(t *testing.T) {
		oldDER, oldKey, err := GenerateCA(KeyTypeEd25519, "old", testNow.Add(-time.Hour), testNow.Add(time.Hour))
		require.NoError(t, err)
		old := parseTestCA(t, oldDER, oldKey)
		next := newCA(t, KeyTypeEd25519, "new") // a day before testNow, ten years
		der, err := CrossSign(next.Cert, old.Cert, old.Signer)
		require.NoError(t, err)
		cross, err := x509.ParseCertificate(der)
		require.NoError(t, err)
		require.True(t, cross.NotBefore.Equal(testNow.Add(-time.Hour)))
		require.True(t, cross.NotAfter.Equal(testNow.Add(time.Hour)))
	})

	t.Run("rejects", func(t *testing.T) {
		old, next := newCA(t, KeyTypeEd25519, "old"), newCA(t, KeyTypeEC, "new")
		_, err := CrossSign(next.Cert, old.Cert, next.Signer)
		require.ErrorIs(t, err, ErrInvalidCA)
		require.ErrorContains(t, err, "the key does not match the issuing CA")

		_, err = CrossSign(notCA(t).Cert, old.Cert, old.Signer)
		require.ErrorIs(t, err, ErrInvalidCA)
		require.ErrorContains(t, err, "is not a CA")

		expiredDER, expiredKey, err := GenerateCA(KeyTypeEd25519, "expired", testNow.AddDate(-2, 0, 0), testNow.AddDate(-1, 0, 0))
		require.NoError(t, err)
		expired := parseTestCA(t, expiredDER, expiredKey)
		_, err = CrossSign(next.Cert, expired.Cert, expired.Signer)
		require.ErrorIs(t, err, ErrInvalidCA)
		require.ErrorContains(t, err, "are never valid together")
	})
}

// parseTestCA parses a CA from GenerateCA.
func parseTestCA(t *testing.T, certDER, keyDER []byte) testCA {
	t.Helper()
	cert, err := x509.ParseCertificate(certDER)
	require.NoError(t, err)
	signer, err := ParsePKCS8Signer(keyDER)
	require.NoError(t, err)
	return testCA{Cert: cert, Signer: signer}
}

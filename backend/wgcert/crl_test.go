package wgcert

import (
	"crypto/x509"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestCreateCRL(t *testing.T) {
	for _, keyType := range []string{KeyTypeEd25519, KeyTypeEC} {
		t.Run(keyType, func(t *testing.T) {
			ca := newCA(t, keyType, "test CA")
			a := issue(t, ca, newTemplate(t, newKey(t)))
			b := issue(t, ca, newTemplate(t, newKey(t)))
			revoked := []x509.RevocationListEntry{
				{SerialNumber: a.SerialNumber, RevocationTime: testNow.Add(-time.Minute)},
				{SerialNumber: b.SerialNumber, RevocationTime: testNow.Add(-2 * time.Minute)},
			}

			der, err := CreateCRL(ca.Cert, ca.Signer, revoked, big.NewInt(7), testNow, 24*time.Hour)
			require.NoError(t, err)

			crl, err := x509.ParseRevocationList(der)
			require.NoError(t, err)
			require.NoError(t, crl.CheckSignatureFrom(ca.Cert))
			require.Zero(t, crl.Number.Cmp(big.NewInt(7)))
			require.True(t, crl.ThisUpdate.Equal(testNow))
			require.True(t, crl.NextUpdate.Equal(testNow.Add(24*time.Hour)))
			require.Equal(t, ca.Cert.SubjectKeyId, crl.AuthorityKeyId)
			require.Len(t, crl.RevokedCertificateEntries, 2)
			for i, e := range crl.RevokedCertificateEntries {
				require.Zero(t, revoked[i].SerialNumber.Cmp(e.SerialNumber))
				require.True(t, revoked[i].RevocationTime.Equal(e.RevocationTime))
			}

			bin := openssl(t)
			dir := t.TempDir()
			caPath := writeFile(t, dir, "ca.pem", []byte(EncodePEM(ca.Cert.Raw)))
			crlPath := writeFile(t, dir, "crl.der", der)
			out := run(t, bin, "crl", "-inform", "DER", "-in", crlPath, "-CAfile", caPath, "-text", "-noout")
			require.Contains(t, out, "verify OK")
			require.Contains(t, out, "Certificate Revocation List (CRL):")
			for _, e := range revoked {
				require.Contains(t, out, "Serial Number: "+fmt.Sprintf("%X", e.SerialNumber.Bytes()))
			}
			require.Contains(t, strings.ReplaceAll(out, " ", ""), "X509v3CRLNumber:\n7")
		})
	}

	t.Run("empty", func(t *testing.T) {
		ca := newCA(t, KeyTypeEd25519, "test CA")
		der, err := CreateCRL(ca.Cert, ca.Signer, nil, big.NewInt(1), testNow, time.Hour)
		require.NoError(t, err)
		crl, err := x509.ParseRevocationList(der)
		require.NoError(t, err)
		require.Empty(t, crl.RevokedCertificateEntries)
	})

	t.Run("rejects", func(t *testing.T) {
		ca := newCA(t, KeyTypeEd25519, "test CA")
		_, err := CreateCRL(ca.Cert, ca.Signer, nil, big.NewInt(1), testNow, 0)
		require.ErrorContains(t, err, "CRL validity 0s must be positive")
		_, err = CreateCRL(ca.Cert, ca.Signer, nil, nil, testNow, time.Hour)
		require.ErrorContains(t, err, "CRL number must be non-negative")
		_, err = CreateCRL(nil, ca.Signer, nil, big.NewInt(1), testNow, time.Hour)
		require.ErrorIs(t, err, ErrInvalidCA)
	})
}

package wgcert

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"math/big"
	"time"
)

// CreateCRL signs an X.509 v2 CRL listing the revoked entries (serial
// number and revocation time). number is the CRL number, which must grow
// with every CRL of the CA; the CRL is valid from now for validity.
func CreateCRL(ca *x509.Certificate, signer crypto.Signer, revoked []x509.RevocationListEntry, number *big.Int, now time.Time, validity time.Duration) ([]byte, error) {
	if ca == nil || signer == nil {
		return nil, fmt.Errorf("%w: missing CA certificate or key", ErrInvalidCA)
	}
	if number == nil || number.Sign() < 0 {
		return nil, errors.New("CRL number must be non-negative")
	}
	if validity <= 0 {
		return nil, fmt.Errorf("CRL validity %s must be positive", validity)
	}
	if _, err := signatureAlgorithmFor(signer.Public()); err != nil {
		return nil, err
	}
	tmpl := &x509.RevocationList{
		RevokedCertificateEntries: revoked,
		Number:                    number,
		ThisUpdate:                now,
		NextUpdate:                now.Add(validity),
	}
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, ca, signer)
	if err != nil {
		return nil, fmt.Errorf("create CRL: %w", err)
	}
	return der, nil
}

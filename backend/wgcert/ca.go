package wgcert

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"time"
)

// Key types of a CA, as GenerateCA takes them.
const (
	// KeyTypeEd25519 is an Ed25519 CA key, the default.
	KeyTypeEd25519 = "ed25519"
	// KeyTypeEC is an ECDSA P-256 CA key.
	KeyTypeEC = "ec"
)

// GenerateCA creates a self-signed CA with a new key and returns the
// certificate and the PKCS#8 private key, both DER. keyType is
// KeyTypeEd25519 (also when empty) or KeyTypeEC. The certificate is a CA
// with path length zero, key usage certSign and cRLSign, a subject key
// identifier and a random 128-bit serial.
func GenerateCA(keyType, commonName string, notBefore, notAfter time.Time) (certDER, keyDER []byte, err error) {
	if commonName == "" {
		return nil, nil, fmt.Errorf("%w: empty common name", ErrInvalidCA)
	}
	if !certTime(notAfter).After(certTime(notBefore)) {
		return nil, nil, fmt.Errorf("%w: NotAfter %s is not after NotBefore %s",
			ErrInvalidCA, notAfter.Format(time.RFC3339), notBefore.Format(time.RFC3339))
	}
	signer, err := generateKey(keyType)
	if err != nil {
		return nil, nil, err
	}
	serial, err := NewSerial()
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: commonName},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
		// SubjectKeyId is left empty: x509.CreateCertificate derives it
		// from the public key for a CA.
	}
	certDER, err = x509.CreateCertificate(rand.Reader, tmpl, tmpl, signer.Public(), signer)
	if err != nil {
		return nil, nil, fmt.Errorf("create CA certificate: %w", err)
	}
	keyDER, err = x509.MarshalPKCS8PrivateKey(signer)
	if err != nil {
		return nil, nil, fmt.Errorf("encode CA key: %w", err)
	}
	return certDER, keyDER, nil
}

// generateKey returns a new CA key of the given type.
func generateKey(keyType string) (crypto.Signer, error) {
	switch keyType {
	case "", KeyTypeEd25519:
		_, key, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("generate Ed25519 key: %w", err)
		}
		return key, nil
	case KeyTypeEC:
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("generate ECDSA key: %w", err)
		}
		return key, nil
	default:
		return nil, fmt.Errorf("%w: key type %q, want %q or %q", ErrUnsupportedKey, keyType, KeyTypeEd25519, KeyTypeEC)
	}
}

// ParseCABundle parses a CA to import: exactly one CERTIFICATE block, which
// must be a CA allowed to sign certificates and CRLs, and exactly one
// private key, as "PRIVATE KEY" (PKCS#8) or "EC PRIVATE KEY" (SEC 1), which
// must be the certificate's key and Ed25519 or ECDSA P-256. "EC PARAMETERS"
// blocks are skipped; any other block is an error.
func ParseCABundle(pemBundle []byte) (cert *x509.Certificate, signer crypto.Signer, err error) {
	var (
		certs   []*x509.Certificate
		signers []crypto.Signer
	)
	for rest := pemBundle; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		switch block.Type {
		case pemTypeCertificate:
			c, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				return nil, nil, fmt.Errorf("%w: parse certificate: %w", ErrInvalidCA, err)
			}
			certs = append(certs, c)
		case "PRIVATE KEY":
			s, err := ParsePKCS8Signer(block.Bytes)
			if err != nil {
				return nil, nil, err
			}
			signers = append(signers, s)
		case "EC PRIVATE KEY":
			k, err := x509.ParseECPrivateKey(block.Bytes)
			if err != nil {
				return nil, nil, fmt.Errorf("%w: parse EC private key: %w", ErrInvalidCA, err)
			}
			if _, err := signatureAlgorithmFor(k.Public()); err != nil {
				return nil, nil, err
			}
			signers = append(signers, k)
		case "EC PARAMETERS":
			// Written by `openssl ecparam -genkey`; the key names its curve itself.
		default:
			return nil, nil, fmt.Errorf("%w: unsupported PEM block %q", ErrInvalidCA, block.Type)
		}
	}
	if len(certs) != 1 {
		return nil, nil, fmt.Errorf("%w: bundle has %d certificates, want 1", ErrInvalidCA, len(certs))
	}
	if len(signers) != 1 {
		return nil, nil, fmt.Errorf("%w: bundle has %d private keys, want 1", ErrInvalidCA, len(signers))
	}
	cert, signer = certs[0], signers[0]
	if err := checkCACertificate(cert); err != nil {
		return nil, nil, err
	}
	if !keysMatch(signer, cert.PublicKey) {
		return nil, nil, fmt.Errorf("%w: the private key does not match the certificate", ErrInvalidCA)
	}
	return cert, signer, nil
}

// checkCACertificate reports why cert cannot issue certificates and CRLs.
func checkCACertificate(cert *x509.Certificate) error {
	switch {
	case !cert.BasicConstraintsValid || !cert.IsCA:
		return fmt.Errorf("%w: certificate %q is not a CA (basicConstraints cA is not true)", ErrInvalidCA, cert.Subject)
	case cert.KeyUsage&x509.KeyUsageCertSign == 0:
		return fmt.Errorf("%w: certificate %q lacks the keyCertSign key usage", ErrInvalidCA, cert.Subject)
	case cert.KeyUsage&x509.KeyUsageCRLSign == 0:
		return fmt.Errorf("%w: certificate %q lacks the cRLSign key usage", ErrInvalidCA, cert.Subject)
	}
	_, err := signatureAlgorithmFor(cert.PublicKey)
	return err
}

// ParsePKCS8Signer parses a PKCS#8 DER private key that can sign as a CA:
// Ed25519 or ECDSA P-256. Other keys yield an error wrapping
// ErrUnsupportedKey.
func ParsePKCS8Signer(der []byte) (crypto.Signer, error) {
	key, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("%w: parse PKCS#8 private key: %w", ErrInvalidCA, err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%w: %T cannot sign", ErrUnsupportedKey, key)
	}
	if _, err := signatureAlgorithmFor(signer.Public()); err != nil {
		return nil, err
	}
	return signer, nil
}

// ParseCertificatesPEM parses every CERTIFICATE block of pemText, such as a
// bundle of CAs, skipping blocks of other types. Without one it returns
// ErrNoCertificate.
func ParseCertificatesPEM(pemText []byte) ([]*x509.Certificate, error) {
	ders := certificateBlocks(pemText)
	if len(ders) == 0 {
		return nil, ErrNoCertificate
	}
	certs := make([]*x509.Certificate, 0, len(ders))
	for i, der := range ders {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("parse certificate %d: %w", i+1, err)
		}
		certs = append(certs, c)
	}
	return certs, nil
}

// CrossSign certifies the CA newCA with the CA issuer and its key: the
// result has newCA's subject, public key (the same SubjectPublicKeyInfo),
// subject key identifier, key usage and path length, is a CA, names issuer
// as its issuer with issuer's key identifier as authority key identifier,
// and is valid only while both CAs are. A party that trusts issuer can
// then trust newCA, which is how a CA rotation keeps pinned trust anchors
// (RFC 4210, section 4.4: "new with old").
//
// Errors wrap ErrInvalidCA when either certificate cannot play its part,
// when signer is not issuer's key, or when the two validity periods do not
// overlap.
func CrossSign(newCA, issuer *x509.Certificate, signer crypto.Signer) ([]byte, error) {
	if newCA == nil || issuer == nil || signer == nil {
		return nil, fmt.Errorf("%w: missing certificate or key", ErrInvalidCA)
	}
	if err := checkCACertificate(newCA); err != nil {
		return nil, err
	}
	if err := checkCACertificate(issuer); err != nil {
		return nil, err
	}
	if !keysMatch(signer, issuer.PublicKey) {
		return nil, fmt.Errorf("%w: the key does not match the issuing CA", ErrInvalidCA)
	}
	notBefore, notAfter := newCA.NotBefore, newCA.NotAfter
	if issuer.NotBefore.After(notBefore) {
		notBefore = issuer.NotBefore
	}
	if issuer.NotAfter.Before(notAfter) {
		notAfter = issuer.NotAfter
	}
	if !notAfter.After(notBefore) {
		return nil, fmt.Errorf("%w: %q (until %s) and %q (from %s) are never valid together",
			ErrInvalidCA, issuer.Subject, issuer.NotAfter.Format(time.RFC3339), newCA.Subject, newCA.NotBefore.Format(time.RFC3339))
	}
	serial, err := NewSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		RawSubject:            newCA.RawSubject,
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              newCA.KeyUsage,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            newCA.MaxPathLen,
		MaxPathLenZero:        newCA.MaxPathLenZero,
		SubjectKeyId:          newCA.SubjectKeyId,
		// Set here: x509.CreateCertificate fills it in only when the
		// issuer's name differs from the subject, and two CAs of a
		// rotation often share a name.
		AuthorityKeyId: issuer.SubjectKeyId,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuer, newCA.PublicKey, signer)
	if err != nil {
		return nil, fmt.Errorf("%w: cross-sign %q with %q: %w", ErrInvalidCA, newCA.Subject, issuer.Subject, err)
	}
	cross, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse cross-signed certificate: %w", err)
	}
	if !bytes.Equal(cross.RawSubjectPublicKeyInfo, newCA.RawSubjectPublicKeyInfo) {
		return nil, fmt.Errorf("%w: %q encodes its public key in a form that cannot be reproduced", ErrInvalidCA, newCA.Subject)
	}
	return der, nil
}

// SelfSigned reports whether c is signed by its own key: a trust anchor
// candidate, as opposed to a cross-signed certificate, whose subject may
// equal its issuer's when two CAs share a name.
func SelfSigned(c *x509.Certificate) bool {
	return c != nil && bytes.Equal(c.RawIssuer, c.RawSubject) && c.CheckSignatureFrom(c) == nil
}

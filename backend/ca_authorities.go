package backend

import (
	"bytes"
	"crypto"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/wgcert"
)

// caEntry is the stored CA: the current one, the CAs it replaced and the
// cross-signatures between them. It is one storage entry (seal-wrapped), so
// a rotation or a drop is one write.
type caEntry struct {
	// Certificate is the current CA certificate, PEM.
	Certificate string `json:"certificate"`
	// PrivateKey is the current CA key, PKCS#8 PEM. It is never returned.
	PrivateKey string `json:"private_key"`
	// Retired are the CAs the current one replaced, newest first, with
	// their keys: each keeps signing the CRL of the certificates it issued.
	Retired []retiredCA `json:"retired,omitempty"`
	// CrossSigned are CA certificates (PEM) of a kept CA issued by an
	// older kept CA, made at each rotation.
	CrossSigned []string `json:"cross_signed,omitempty"`
	// Previous are CA certificates (PEM) replaced before the engine kept
	// their keys. They are read, served after Retired, and written back as
	// Retired entries without a key at the next change.
	Previous []string `json:"previous,omitempty"`
}

// retiredCA is a CA that a rotation replaced.
type retiredCA struct {
	Certificate string `json:"certificate"`
	// PrivateKey is empty for a CA replaced before keys were kept: it
	// signs no CRL.
	PrivateKey string `json:"private_key,omitempty"`
}

// An authority is one CA the mount keeps.
type authority struct {
	cert    *x509.Certificate
	certPEM string
	keyPEM  string
	// signer is nil for a CA kept without its key.
	signer crypto.Signer
	// keyID names the CA: its subject key identifier, as records and
	// config/ca/previous/:issuer_ref name it.
	keyID string
}

// caBundle is a parsed caEntry. It is never changed: a write makes a new one.
type caBundle struct {
	entry *caEntry
	// cert, signer and keyID are the current CA's.
	cert   *x509.Certificate
	signer crypto.Signer
	keyID  string
	// authorities are the kept CAs, the current one first, then the
	// previous ones newest first.
	authorities []*authority
	// crossSigned are the cross-signed CA certificates.
	crossSigned []*x509.Certificate
	// chainPEM is what ca/pem serves: the current CA, the cross-signed
	// certificates, then the previous CAs.
	chainPEM string
}

// errKeyReused is returned when a new CA has the key of a kept CA.
var errKeyReused = errors.New("the key is already the key of a kept CA")

func parseCAEntry(e *caEntry) (*caBundle, error) {
	current, err := parseAuthority(e.Certificate, e.PrivateKey)
	if err != nil {
		return nil, fmt.Errorf("stored CA: %w", err)
	}
	if current.signer == nil {
		return nil, errors.New("stored CA has no key")
	}
	ca := &caBundle{entry: e, cert: current.cert, signer: current.signer, keyID: current.keyID,
		authorities: []*authority{current}}
	for _, r := range e.Retired {
		a, err := parseAuthority(r.Certificate, r.PrivateKey)
		if err != nil {
			return nil, fmt.Errorf("stored previous CA: %w", err)
		}
		ca.authorities = append(ca.authorities, a)
	}
	for _, p := range e.Previous {
		a, err := parseAuthority(p, "")
		if err != nil {
			return nil, fmt.Errorf("stored previous CA: %w", err)
		}
		ca.authorities = append(ca.authorities, a)
	}
	chain := []string{strings.TrimSpace(current.certPEM)}
	for _, p := range e.CrossSigned {
		certs, err := wgcert.ParseCertificatesPEM([]byte(p))
		if err != nil {
			return nil, fmt.Errorf("stored cross-signed CA: %w", err)
		}
		ca.crossSigned = append(ca.crossSigned, certs[0])
		chain = append(chain, strings.TrimSpace(p))
	}
	for _, a := range ca.authorities[1:] {
		chain = append(chain, strings.TrimSpace(a.certPEM))
	}
	ca.chainPEM = strings.Join(chain, "\n") + "\n"
	return ca, nil
}

// parseAuthority parses a CA certificate and, when keyPEM is not empty,
// its key.
func parseAuthority(certPEM, keyPEM string) (*authority, error) {
	certs, err := wgcert.ParseCertificatesPEM([]byte(certPEM))
	if err != nil {
		return nil, fmt.Errorf("certificate: %w", err)
	}
	a := &authority{cert: certs[0], certPEM: certPEM, keyPEM: keyPEM, keyID: caKeyID(certs[0])}
	if keyPEM == "" {
		return a, nil
	}
	block, _ := pem.Decode([]byte(keyPEM))
	if block == nil {
		return nil, errors.New("key is not PEM")
	}
	if a.signer, err = wgcert.ParsePKCS8Signer(block.Bytes); err != nil {
		return nil, fmt.Errorf("key: %w", err)
	}
	return a, nil
}

// caKeyID is the key id of a CA: its subject key identifier, or for a CA
// without one the SHA-1 of its public key (RFC 5280, section 4.2.1.2), the
// identifier x509.CreateCertificate gives such a CA's cross-signature.
func caKeyID(c *x509.Certificate) string {
	if len(c.SubjectKeyId) > 0 {
		return formatKeyID(c.SubjectKeyId)
	}
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(c.RawSubjectPublicKeyInfo, &spki); err != nil {
		sum := sha1.Sum(c.RawSubjectPublicKeyInfo)
		return formatKeyID(sum[:])
	}
	sum := sha1.Sum(spki.PublicKey.Bytes)
	return formatKeyID(sum[:])
}

// find returns the kept CA that ref names, by key id or serial number
// (hex, with or without colons), or nil.
func (ca *caBundle) find(ref string) *authority {
	id := strings.ToLower(strings.NewReplacer(":", "", "-", "").Replace(strings.TrimSpace(ref)))
	serial, isSerial := normalizeSerial(ref)
	for _, a := range ca.authorities {
		if strings.ReplaceAll(a.keyID, ":", "") == id || (isSerial && formatSerial(a.cert.SerialNumber) == serial) {
			return a
		}
	}
	return nil
}

// rotated returns the entry that makes next the current CA: the current one
// and every CA it keeps stay as previous CAs, and each of them that still
// has its key and is valid at now cross-signs next.
func (ca *caBundle) rotated(next *authority, now time.Time) (*caEntry, error) {
	for _, a := range ca.authorities {
		if bytes.Equal(a.cert.RawSubjectPublicKeyInfo, next.cert.RawSubjectPublicKeyInfo) {
			return nil, fmt.Errorf("%w (%s)", errKeyReused, a.keyID)
		}
	}
	e := &caEntry{Certificate: next.certPEM, PrivateKey: next.keyPEM}
	for _, a := range ca.authorities {
		e.Retired = append(e.Retired, retiredCA{Certificate: a.certPEM, PrivateKey: a.keyPEM})
		if a.signer == nil || !now.Before(a.cert.NotAfter) || !overlap(a.cert, next.cert) {
			continue
		}
		der, err := wgcert.CrossSign(next.cert, a.cert, a.signer)
		if err != nil {
			return nil, fmt.Errorf("cross-sign the new CA with %s: %w", a.keyID, err)
		}
		e.CrossSigned = append(e.CrossSigned, wgcert.EncodePEM(der))
	}
	e.CrossSigned = append(e.CrossSigned, ca.entry.CrossSigned...)
	return e, nil
}

// overlap reports whether a and b are valid at some common time.
func overlap(a, b *x509.Certificate) bool {
	return a.NotAfter.After(b.NotBefore) && b.NotAfter.After(a.NotBefore)
}

// without returns the entry with the previous CA gone, and the
// cross-signatures of it and by it.
func (ca *caBundle) without(gone *authority) *caEntry {
	e := &caEntry{Certificate: ca.entry.Certificate, PrivateKey: ca.entry.PrivateKey}
	for _, a := range ca.authorities[1:] {
		if a != gone {
			e.Retired = append(e.Retired, retiredCA{Certificate: a.certPEM, PrivateKey: a.keyPEM})
		}
	}
	for i, c := range ca.crossSigned {
		if bytes.Equal(c.RawSubjectPublicKeyInfo, gone.cert.RawSubjectPublicKeyInfo) || c.CheckSignatureFrom(gone.cert) == nil {
			continue
		}
		e.CrossSigned = append(e.CrossSigned, ca.entry.CrossSigned[i])
	}
	return e
}

// leafTTL bounds a certificate's lifetime, from now, by the current CA's:
// a ttl the caller asked for that would outlive the CA is refused, one from
// the role is capped at the CA's NotAfter. An expired CA issues nothing.
func (ca *caBundle) leafTTL(now time.Time, ttl time.Duration, asked bool) (time.Duration, error) {
	notAfter := ca.cert.NotAfter.UTC().Format(time.RFC3339)
	left := ca.cert.NotAfter.Sub(now)
	switch {
	case left <= 0:
		return 0, fmt.Errorf("the CA expired at %s; rotate it (config/ca)", notAfter)
	case ttl <= left:
		return ttl, nil
	case asked:
		return 0, fmt.Errorf("%s would outlive the CA, which expires at %s", ttl, notAfter)
	}
	return left, nil
}

// responseData describes a kept CA as ca and config/ca/previous show it.
func (a *authority) responseData(current bool) map[string]any {
	return map[string]any{
		"key_id":        a.keyID,
		"serial_number": formatSerial(a.cert.SerialNumber),
		"common_name":   a.cert.Subject.CommonName,
		"key_type":      keyTypeOf(a.cert),
		"expiration":    a.cert.NotAfter.Unix(),
		"not_after":     a.cert.NotAfter.UTC().Format(time.RFC3339),
		"current":       current,
		"signs_crl":     a.signer != nil,
	}
}

// caResponseData is the CA set as ca and config/ca show it.
func caResponseData(ca *caBundle) map[string]any {
	issuers := make([]map[string]any, 0, len(ca.authorities))
	for i, a := range ca.authorities {
		issuers = append(issuers, a.responseData(i == 0))
	}
	cross := make([]string, 0, len(ca.crossSigned))
	for _, c := range ca.crossSigned {
		cross = append(cross, wgcert.EncodePEM(c.Raw))
	}
	return map[string]any{
		"certificate":   ca.entry.Certificate,
		"ca_chain":      ca.chainPEM,
		"common_name":   ca.cert.Subject.CommonName,
		"serial_number": formatSerial(ca.cert.SerialNumber),
		"key_id":        ca.keyID,
		"key_type":      keyTypeOf(ca.cert),
		"expiration":    ca.cert.NotAfter.Unix(),
		"issuers":       issuers,
		"cross_signed":  cross,
	}
}

func keyTypeOf(c *x509.Certificate) string {
	if c.PublicKeyAlgorithm == x509.Ed25519 {
		return "ed25519"
	}
	return "ec"
}

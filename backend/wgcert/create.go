package wgcert

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"fmt"
	"math/big"
	"net/netip"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/wgkey"
	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/wgpolicy"
)

// gatewayURIPrefix starts every URI SAN that names a gateway.
const gatewayURIPrefix = "urn:wireguard:gateway:"

// maxSerialLen is the longest serial number RFC 5280 (section 4.1.2.2)
// allows, in octets.
const maxSerialLen = 20

// Object identifiers of the profile.
var (
	oidPublicKeyX25519          = asn1.ObjectIdentifier{1, 3, 101, 110}
	oidSignatureEd25519         = asn1.ObjectIdentifier{1, 3, 101, 112}
	oidSignatureECDSAWithSHA256 = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}
	oidCommonName               = asn1.ObjectIdentifier{2, 5, 4, 3}
	oidExtSubjectKeyID          = asn1.ObjectIdentifier{2, 5, 29, 14}
	oidExtKeyUsage              = asn1.ObjectIdentifier{2, 5, 29, 15}
	oidExtSubjectAltName        = asn1.ObjectIdentifier{2, 5, 29, 17}
	oidExtBasicConstraints      = asn1.ObjectIdentifier{2, 5, 29, 19}
	oidExtAuthorityKeyID        = asn1.ObjectIdentifier{2, 5, 29, 35}
)

// Context-specific tags of the GeneralName choices used in SANs (RFC 5280,
// section 4.2.1.6) and of the AuthorityKeyIdentifier keyIdentifier.
const (
	tagURI           = 6
	tagIPAddress     = 7
	tagKeyIdentifier = 0
)

// GatewayURI returns the URI SAN that binds a certificate to a gateway:
// "urn:wireguard:gateway:" + name.
func GatewayURI(name string) string {
	return gatewayURIPrefix + name
}

// validGatewayName reports whether name may follow the gateway URI prefix:
// non-empty and made of URI unreserved characters only (RFC 3986), so that
// the URI needs no escaping and parses back to the same name.
func validGatewayName(name string) bool {
	if name == "" {
		return false
	}
	for _, c := range []byte(name) {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '-', c == '.', c == '_', c == '~':
		default:
			return false
		}
	}
	return true
}

// A Template describes a leaf certificate to issue.
type Template struct {
	// SerialNumber is the certificate serial: positive, at most 20 octets.
	// NewSerial returns a suitable random one.
	SerialNumber *big.Int
	// CommonName is the identity, encoded as the subject's only attribute.
	CommonName string
	// PublicKey is the WireGuard public key. It becomes the
	// SubjectPublicKeyInfo (id-X25519, RFC 8410) and must not be a
	// low-order point.
	PublicKey wgtypes.Key
	// Addresses are the device's tunnel addresses, encoded as IP SANs.
	Addresses []netip.Addr
	// Gateways are the gateways the certificate is valid for, each encoded
	// as the URI SAN GatewayURI(name).
	Gateways []string
	// NotBefore and NotAfter bound the validity period. They are truncated
	// to whole seconds; NotAfter must be after NotBefore.
	NotBefore time.Time
	NotAfter  time.Time
	// Destinations, if not empty, are the access policy: what the device
	// may reach through its gateways, encoded as the non-critical extension
	// wgpolicy.OID. Empty means no extension: the gateway routes everything
	// it routes for any peer.
	Destinations []wgpolicy.Destination
}

// NewSerial returns a random positive serial number of at most 128 bits.
func NewSerial() (*big.Int, error) {
	limit := new(big.Int).Lsh(big.NewInt(1), 128)
	for {
		n, err := rand.Int(rand.Reader, limit)
		if err != nil {
			return nil, fmt.Errorf("generate serial number: %w", err)
		}
		if n.Sign() > 0 {
			return n, nil
		}
	}
}

// FormatSerial writes a serial number as colon-separated lowercase hex
// ("46:70:ed:…"), the form the engine and Vault's PKI engine show.
func FormatSerial(n *big.Int) string {
	h := n.Text(16)
	if len(h)%2 == 1 {
		h = "0" + h
	}
	var sb strings.Builder
	for i := 0; i < len(h); i += 2 {
		if i > 0 {
			sb.WriteByte(':')
		}
		sb.WriteString(h[i : i+2])
	}
	return sb.String()
}

// Create signs a leaf certificate with the CA and returns its DER.
//
// The CA key must be Ed25519 (signature Ed25519) or ECDSA P-256 (signature
// ecdsa-with-SHA256), signer must hold the private key of ca, and ca must be
// allowed to sign certificates; then the result verifies against ca (the
// tests check it with crypto/x509 and openssl, so Create does not re-parse
// every certificate it makes).
// Errors about the template wrap ErrInvalidTemplate; errors about the CA
// wrap ErrInvalidCA or ErrUnsupportedKey.
func Create(t *Template, ca *x509.Certificate, signer crypto.Signer) ([]byte, error) {
	if err := t.validate(); err != nil {
		return nil, err
	}
	if ca == nil || signer == nil {
		return nil, fmt.Errorf("%w: missing CA certificate or key", ErrInvalidCA)
	}
	if len(ca.RawSubject) == 0 {
		return nil, fmt.Errorf("%w: CA certificate has no raw subject (not parsed from DER?)", ErrInvalidCA)
	}
	alg, err := signatureAlgorithmFor(signer.Public())
	if err != nil {
		return nil, err
	}
	if !keysMatch(signer, ca.PublicKey) {
		return nil, fmt.Errorf("%w: the key does not match the CA certificate", ErrInvalidCA)
	}
	if err := checkIssuer(ca); err != nil {
		return nil, err
	}

	var policy []byte
	if len(t.Destinations) > 0 {
		if policy, err = wgpolicy.Marshal(t.Destinations); err != nil {
			return nil, fmt.Errorf("%w: access policy: %w", ErrInvalidTemplate, err)
		}
	}
	tbs, err := t.marshalTBS(ca, alg, policy)
	if err != nil {
		return nil, fmt.Errorf("encode certificate: %w", err)
	}
	sig, err := alg.sign(signer, tbs)
	if err != nil {
		return nil, err
	}
	der, err := marshalCertificate(tbs, alg, sig)
	if err != nil {
		return nil, fmt.Errorf("encode certificate: %w", err)
	}

	return der, nil
}

// checkIssuer reports whether ca may sign certificates, by the rules
// x509.Certificate.CheckSignatureFrom applies to a parent: basic
// constraints present with CA set, and certSign in its key usage if it
// has one. With keysMatch, this is what makes the signed certificate
// verify, checked once per CA instead of once per certificate.
func checkIssuer(ca *x509.Certificate) error {
	if (ca.Version == 3 && !ca.BasicConstraintsValid) || (ca.BasicConstraintsValid && !ca.IsCA) {
		return fmt.Errorf("%w: the issuer is not a CA (basic constraints)", ErrInvalidCA)
	}
	if ca.KeyUsage != 0 && ca.KeyUsage&x509.KeyUsageCertSign == 0 {
		return fmt.Errorf("%w: the issuer's key usage does not allow signing certificates", ErrInvalidCA)
	}
	return nil
}

// validate reports why t cannot be issued, or nil.
func (t *Template) validate() error {
	if t == nil {
		return fmt.Errorf("%w: no template", ErrInvalidTemplate)
	}
	switch {
	case t.SerialNumber == nil || t.SerialNumber.Sign() <= 0:
		return fmt.Errorf("%w: serial number must be positive", ErrInvalidTemplate)
	case len(t.SerialNumber.Bytes()) > maxSerialLen:
		return fmt.Errorf("%w: serial number longer than %d octets", ErrInvalidTemplate, maxSerialLen)
	case t.CommonName == "":
		return fmt.Errorf("%w: empty common name", ErrInvalidTemplate)
	case !utf8.ValidString(t.CommonName):
		return fmt.Errorf("%w: common name is not valid UTF-8", ErrInvalidTemplate)
	}
	notBefore, notAfter := certTime(t.NotBefore), certTime(t.NotAfter)
	if !notAfter.After(notBefore) {
		return fmt.Errorf("%w: NotAfter %s is not after NotBefore %s",
			ErrInvalidTemplate, notAfter.Format(time.RFC3339), notBefore.Format(time.RFC3339))
	}
	if err := wgkey.CheckPublic(t.PublicKey); err != nil {
		return fmt.Errorf("%w: public key %s: %w", ErrInvalidTemplate, t.PublicKey, err)
	}
	for _, a := range t.Addresses {
		switch {
		case !a.IsValid():
			return fmt.Errorf("%w: invalid (zero) address", ErrInvalidTemplate)
		case a.Zone() != "":
			return fmt.Errorf("%w: address %s has a zone", ErrInvalidTemplate, a)
		case a.Is4In6():
			return fmt.Errorf("%w: address %s is IPv4-mapped; use the IPv4 form", ErrInvalidTemplate, a)
		}
	}
	for _, g := range t.Gateways {
		if !validGatewayName(g) {
			return fmt.Errorf("%w: gateway name %q must be non-empty and use only letters, digits and -._~",
				ErrInvalidTemplate, g)
		}
	}
	return nil
}

// certTime is t as it is encoded in a certificate: UTC, whole seconds.
func certTime(t time.Time) time.Time {
	return t.UTC().Truncate(time.Second)
}

// marshalTBS encodes the TBSCertificate of t issued by ca (RFC 5280,
// section 4.1); policy is the DER of the access policy extension, or nil.
func (t *Template) marshalTBS(ca *x509.Certificate, alg signatureAlgorithm, policy []byte) ([]byte, error) {
	// Room for the whole encoding up front (a leaf is about 400 bytes
	// besides the issuer and the policy): the builder would grow it
	// several times.
	b := cryptobyte.NewBuilder(make([]byte, 0, 512+len(ca.RawSubject)+len(policy)))
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
			b.AddASN1Int64(2) // v3
		})
		b.AddASN1BigInt(t.SerialNumber)
		alg.marshal(b)
		b.AddBytes(ca.RawSubject)
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			addTime(b, t.NotBefore)
			addTime(b, t.NotAfter)
		})
		addCommonName(b, t.CommonName)
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1ObjectIdentifier(oidPublicKeyX25519) // parameters absent (RFC 8410)
			})
			b.AddASN1BitString(t.PublicKey[:])
		})
		b.AddASN1(cbasn1.Tag(3).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				t.addExtensions(b, ca.SubjectKeyId, policy)
			})
		})
	})
	return b.Bytes()
}

// addExtensions adds the profile's extensions. authorityKeyID is the CA's
// subject key identifier; the AuthorityKeyIdentifier is left out when the
// CA has none. policy is the DER of the access policy, added as the
// non-critical extension wgpolicy.OID when not nil.
func (t *Template) addExtensions(b *cryptobyte.Builder, authorityKeyID, policy []byte) {
	addExtension(b, oidExtKeyUsage, true, func(b *cryptobyte.Builder) {
		// keyAgreement is bit 4: 0b00001000, the 3 trailing bits unused.
		b.AddASN1(cbasn1.BIT_STRING, func(b *cryptobyte.Builder) {
			b.AddBytes([]byte{3, 0x08})
		})
	})
	addExtension(b, oidExtBasicConstraints, true, func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(*cryptobyte.Builder) {}) // cA FALSE by default
	})
	subjectKeyID := sha1.Sum(t.PublicKey[:])
	addExtension(b, oidExtSubjectKeyID, false, func(b *cryptobyte.Builder) {
		b.AddASN1OctetString(subjectKeyID[:])
	})
	if len(authorityKeyID) > 0 {
		addExtension(b, oidExtAuthorityKeyID, false, func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1(cbasn1.Tag(tagKeyIdentifier).ContextSpecific(), func(b *cryptobyte.Builder) {
					b.AddBytes(authorityKeyID)
				})
			})
		})
	}
	if len(t.Addresses) > 0 || len(t.Gateways) > 0 {
		addExtension(b, oidExtSubjectAltName, false, func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				for _, a := range t.Addresses {
					b.AddASN1(cbasn1.Tag(tagIPAddress).ContextSpecific(), func(b *cryptobyte.Builder) {
						b.AddBytes(a.AsSlice()) // 4 bytes for IPv4, 16 for IPv6
					})
				}
				for _, g := range t.Gateways {
					b.AddASN1(cbasn1.Tag(tagURI).ContextSpecific(), func(b *cryptobyte.Builder) {
						b.AddBytes([]byte(GatewayURI(g)))
					})
				}
			})
		})
	}
	if policy != nil {
		addExtension(b, wgpolicy.OID, false, func(b *cryptobyte.Builder) {
			b.AddBytes(policy)
		})
	}
}

// addExtension adds one Extension; critical is encoded only when true, as
// DER requires for a default value.
func addExtension(b *cryptobyte.Builder, oid asn1.ObjectIdentifier, critical bool, value cryptobyte.BuilderContinuation) {
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(oid)
		if critical {
			b.AddASN1Boolean(true)
		}
		b.AddASN1(cbasn1.OCTET_STRING, value)
	})
}

// addTime adds t as a UTCTime for the years 1950 to 2049 and as a
// GeneralizedTime otherwise (RFC 5280, section 4.1.2.5).
func addTime(b *cryptobyte.Builder, t time.Time) {
	t = certTime(t)
	if y := t.Year(); y >= 1950 && y < 2050 {
		b.AddASN1UTCTime(t)
	} else {
		b.AddASN1GeneralizedTime(t)
	}
}

// addCommonName adds a Name made of one common name, as a UTF8String.
func addCommonName(b *cryptobyte.Builder, cn string) {
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SET, func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1ObjectIdentifier(oidCommonName)
				b.AddASN1(cbasn1.UTF8String, func(b *cryptobyte.Builder) {
					b.AddBytes([]byte(cn))
				})
			})
		})
	})
}

// marshalCertificate joins a TBSCertificate and its signature.
func marshalCertificate(tbs []byte, alg signatureAlgorithm, sig []byte) ([]byte, error) {
	b := cryptobyte.NewBuilder(make([]byte, 0, len(tbs)+len(sig)+32))
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddBytes(tbs)
		alg.marshal(b)
		b.AddASN1BitString(sig)
	})
	return b.Bytes()
}

// A signatureAlgorithm is how a CA key signs: Ed25519 over the message
// itself, or ECDSA over its SHA-256 digest.
type signatureAlgorithm struct {
	oid  asn1.ObjectIdentifier
	hash crypto.Hash // 0 for Ed25519
}

// signatureAlgorithmFor returns the algorithm of a CA public key, or an
// error wrapping ErrUnsupportedKey when it is neither Ed25519 nor ECDSA
// P-256.
func signatureAlgorithmFor(pub crypto.PublicKey) (signatureAlgorithm, error) {
	switch pub := pub.(type) {
	case ed25519.PublicKey:
		return signatureAlgorithm{oid: oidSignatureEd25519}, nil
	case *ecdsa.PublicKey:
		if pub.Curve == elliptic.P256() {
			return signatureAlgorithm{oid: oidSignatureECDSAWithSHA256, hash: crypto.SHA256}, nil
		}
		return signatureAlgorithm{}, fmt.Errorf("%w: ECDSA on %s, want P-256", ErrUnsupportedKey, pub.Curve.Params().Name)
	default:
		return signatureAlgorithm{}, fmt.Errorf("%w: %T, want Ed25519 or ECDSA P-256", ErrUnsupportedKey, pub)
	}
}

// marshal adds the AlgorithmIdentifier; both algorithms have no parameters
// (RFC 8410, RFC 5758).
func (a signatureAlgorithm) marshal(b *cryptobyte.Builder) {
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(a.oid)
	})
}

// sign signs tbs with signer.
func (a signatureAlgorithm) sign(signer crypto.Signer, tbs []byte) ([]byte, error) {
	msg := tbs
	if a.hash == crypto.SHA256 {
		digest := sha256.Sum256(tbs)
		msg = digest[:]
	}
	sig, err := signer.Sign(rand.Reader, msg, a.hash)
	if err != nil {
		return nil, fmt.Errorf("sign certificate: %w", err)
	}
	return sig, nil
}

// keysMatch reports whether signer holds the private key of pub.
func keysMatch(signer crypto.Signer, pub crypto.PublicKey) bool {
	k, ok := signer.Public().(interface{ Equal(crypto.PublicKey) bool })
	return ok && k.Equal(pub)
}

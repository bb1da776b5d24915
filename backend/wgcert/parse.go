package wgcert

import (
	"crypto/ecdh"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/wgpolicy"
)

// pemTypeCertificate is the PEM block type of a certificate.
const pemTypeCertificate = "CERTIFICATE"

// A Certificate is a parsed WireGuard certificate. Its fields other than
// X509 are read from X509 by Parse.
type Certificate struct {
	// X509 is the certificate as crypto/x509 parses it. Its PublicKey is
	// nil: Go does not read X25519 subject keys there.
	X509 *x509.Certificate
	// PublicKey is the WireGuard public key from the SubjectPublicKeyInfo.
	PublicKey wgtypes.Key
	// CommonName is the subject common name: the identity.
	CommonName string
	// Addresses are the IP address SANs: the tunnel addresses.
	Addresses []netip.Addr
	// Gateways are the gateway names of the URI SANs that start with
	// "urn:wireguard:gateway:"; other URIs are ignored.
	Gateways []string
	// SerialNumber is the certificate serial number.
	SerialNumber *big.Int
	// NotBefore and NotAfter bound the validity period.
	NotBefore, NotAfter time.Time
	// HasPolicy reports whether the certificate carries the access policy
	// extension (wgpolicy.OID). Without it the device is unrestricted.
	HasPolicy bool
	// Destinations are the access policy's destinations, in canonical
	// order: all the device may reach when HasPolicy is true.
	Destinations []wgpolicy.Destination
}

// Parse parses a DER certificate whose subject key is an X25519 key.
// A certificate with any other key yields an error wrapping ErrNotX25519;
// one whose access policy extension does not decode, or appears twice, an
// error wrapping ErrBadPolicy.
func Parse(der []byte) (*Certificate, error) {
	return parse(der, wgpolicy.Unmarshal)
}

// A PolicyDecoder decodes the value (DER) of an access policy extension
// as wgpolicy.Unmarshal does, for instance from the results of earlier
// calls with the same bytes.
type PolicyDecoder func(der []byte) ([]wgpolicy.Destination, error)

// ParsePEM parses the first CERTIFICATE block of pemText, skipping blocks
// of other types. Without one it returns ErrNoCertificate.
func ParsePEM(pemText []byte) (*Certificate, error) {
	return ParsePEMWith(pemText, wgpolicy.Unmarshal)
}

// ParsePEMWith is ParsePEM with decode reading the access policy
// extension: a reader of many certificates of few policies decodes each
// policy once.
func ParsePEMWith(pemText []byte, decode PolicyDecoder) (*Certificate, error) {
	ders := certificateBlocks(pemText)
	if len(ders) == 0 {
		return nil, ErrNoCertificate
	}
	return parse(ders[0], decode)
}

// ParseWith is Parse with decode reading the access policy extension.
func ParseWith(der []byte, decode PolicyDecoder) (*Certificate, error) {
	return parse(der, decode)
}

// parse is Parse with decode reading the access policy extension.
func parse(der []byte, decode PolicyDecoder) (*Certificate, error) {
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse certificate: %w", err)
	}
	return fromX509(cert, decode)
}

// EncodePEM returns der as a PEM CERTIFICATE block.
func EncodePEM(der []byte) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: pemTypeCertificate, Bytes: der}))
}

// certificateBlocks returns the contents of the CERTIFICATE blocks of
// pemText, in order.
func certificateBlocks(pemText []byte) [][]byte {
	var ders [][]byte
	for rest := pemText; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return ders
		}
		if block.Type == pemTypeCertificate {
			ders = append(ders, block.Bytes)
		}
	}
}

// fromX509 reads the profile's fields from cert, its access policy
// with decode.
func fromX509(cert *x509.Certificate, decode PolicyDecoder) (*Certificate, error) {
	key, err := x25519Key(cert)
	if err != nil {
		return nil, err
	}
	var addrs []netip.Addr
	for _, ip := range cert.IPAddresses {
		a, ok := netip.AddrFromSlice(ip)
		if !ok {
			return nil, fmt.Errorf("parse certificate: IP address SAN of %d bytes", len(ip))
		}
		addrs = append(addrs, a)
	}
	hasPolicy, destinations, err := policyOf(cert, decode)
	if err != nil {
		return nil, err
	}
	return &Certificate{
		X509:         cert,
		PublicKey:    key,
		CommonName:   cert.Subject.CommonName,
		Addresses:    addrs,
		Gateways:     gatewayNames(cert.URIs),
		SerialNumber: cert.SerialNumber,
		NotBefore:    cert.NotBefore,
		NotAfter:     cert.NotAfter,
		HasPolicy:    hasPolicy,
		Destinations: destinations,
	}, nil
}

// policyOf reads the access policy extension of cert: whether there is
// one, and its destinations. An extension that does not decode is an error
// wrapping ErrBadPolicy, so that a certificate the CA meant to restrict is
// never read as an unrestricted one.
func policyOf(cert *x509.Certificate, decode PolicyDecoder) (bool, []wgpolicy.Destination, error) {
	var found *pkix.Extension
	for i := range cert.Extensions {
		if !cert.Extensions[i].Id.Equal(wgpolicy.OID) {
			continue
		}
		if found != nil {
			return false, nil, fmt.Errorf("%w: the extension appears twice", ErrBadPolicy)
		}
		found = &cert.Extensions[i]
	}
	if found == nil {
		return false, nil, nil
	}
	ds, err := decode(found.Value)
	if err != nil {
		return false, nil, fmt.Errorf("%w: %w", ErrBadPolicy, err)
	}
	return true, ds, nil
}

// x25519SPKIPrefix is the DER of an X25519 SubjectPublicKeyInfo up to
// its 32 key bytes (RFC 8410: the algorithm without parameters, the key
// as a BIT STRING without unused bits). DER has one encoding of a value,
// so every X25519 SubjectPublicKeyInfo is this prefix and a key.
const x25519SPKIPrefix = "\x30\x2a\x30\x05\x06\x03\x2b\x65\x6e\x03\x21\x00"

// x25519Key reads the WireGuard key from cert's SubjectPublicKeyInfo, the
// only place the profile reads a key from. The encoding the profile
// writes is read as it is (a third of a certificate's parsing went to
// x509.ParsePKIXPublicKey); anything else goes through
// x509.ParsePKIXPublicKey.
func x25519Key(cert *x509.Certificate) (wgtypes.Key, error) {
	spki := cert.RawSubjectPublicKeyInfo
	if len(spki) == len(x25519SPKIPrefix)+wgtypes.KeyLen && string(spki[:len(x25519SPKIPrefix)]) == x25519SPKIPrefix {
		return wgtypes.Key(spki[len(x25519SPKIPrefix):]), nil
	}
	pub, err := x509.ParsePKIXPublicKey(cert.RawSubjectPublicKeyInfo)
	if err != nil {
		return wgtypes.Key{}, fmt.Errorf("%w: %w", ErrNotX25519, err)
	}
	k, ok := pub.(*ecdh.PublicKey)
	if !ok || k.Curve() != ecdh.X25519() {
		return wgtypes.Key{}, fmt.Errorf("%w (got %T)", ErrNotX25519, pub)
	}
	key, err := wgtypes.NewKey(k.Bytes())
	if err != nil {
		return wgtypes.Key{}, fmt.Errorf("%w: %w", ErrNotX25519, err)
	}
	return key, nil
}

// gatewayNames returns the gateway names of the gateway URIs among uris.
func gatewayNames(uris []*url.URL) []string {
	var names []string
	for _, u := range uris {
		name, ok := strings.CutPrefix(u.String(), gatewayURIPrefix)
		if ok && validGatewayName(name) {
			names = append(names, name)
		}
	}
	return names
}

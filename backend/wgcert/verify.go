package wgcert

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/wgkey"
	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/wgpolicy"
)

// VerifyOptions says what a certificate must satisfy besides its signature.
type VerifyOptions struct {
	// Roots are the trusted CAs: one, or several during a CA rotation. The
	// certificate must be signed directly by one of them.
	Roots []*x509.Certificate
	// Gateway, if non-empty, is a gateway name the certificate must carry
	// as the URI SAN GatewayURI(Gateway).
	Gateway string
	// PublicKey, if non-nil, is the key the certificate must bind.
	PublicKey *wgtypes.Key
	// Pools, if non-empty, are the prefixes every address of the
	// certificate must lie in (each in one of them).
	Pools []netip.Prefix
	// Policies, if non-nil, decodes the access policy extension of the
	// signed certificate in place of wgpolicy.Unmarshal (see
	// ParsePEMWith).
	Policies PolicyDecoder
	// SignedBy, if non-nil, is a CA whose signature over the
	// certificate's DER the caller checked already: a feed answer's
	// signature (VerifyFeed) listing the certificate's digest. When a
	// root with SignedBy's key is the certificate's issuer (by name, and
	// by authority key identifier when both have one), Verify takes that
	// signature for the certificate's own and does not check it again;
	// every other check is the same. A certificate of another CA is
	// checked as without SignedBy.
	SignedBy *x509.Certificate
}

// Verify reports why c is not to be trusted at time now, or nil.
//
// The checks, in order: the signature chains directly to one of
// opts.Roots (ErrUnknownAuthority; or opts.SignedBy vouched for it) that
// is valid at now (ErrCAExpired),
// now lies within the validity period
// (ErrNotYetValid, ErrExpired; both bounds inclusive), the key is not a
// low-order point (wgkey.ErrLowOrder), then the gateway (ErrWrongGateway),
// the key (ErrKeyMismatch) and the addresses (ErrAddressOutsidePool) that
// opts asks for. Verify reads the signed c.X509, not the other fields of c,
// which a caller could have changed.
func Verify(now time.Time, c *Certificate, opts VerifyOptions) error {
	if c == nil || c.X509 == nil {
		return errors.New("no certificate to verify")
	}
	if err := checkAuthority(now, c.X509, opts.Roots, opts.SignedBy); err != nil {
		return err
	}
	decode := opts.Policies
	if decode == nil {
		decode = wgpolicy.Unmarshal
	}
	signed, err := fromX509(c.X509, decode)
	if err != nil {
		return err
	}
	if now.Before(signed.NotBefore) {
		return fmt.Errorf("%w: valid from %s, now is %s",
			ErrNotYetValid, signed.NotBefore.Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	if now.After(signed.NotAfter) {
		return fmt.Errorf("%w at %s, now is %s",
			ErrExpired, signed.NotAfter.Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	if err := wgkey.CheckPublic(signed.PublicKey); err != nil {
		return fmt.Errorf("certificate key %s: %w", signed.PublicKey, err)
	}
	if opts.Gateway != "" && !slices.Contains(signed.Gateways, opts.Gateway) {
		return fmt.Errorf("%w: certificate is for gateways %q, not %q", ErrWrongGateway, signed.Gateways, opts.Gateway)
	}
	if opts.PublicKey != nil && *opts.PublicKey != signed.PublicKey {
		return fmt.Errorf("%w: certificate binds %s, want %s", ErrKeyMismatch, signed.PublicKey, *opts.PublicKey)
	}
	if len(opts.Pools) > 0 {
		for _, a := range signed.Addresses {
			if !inPools(a, opts.Pools) {
				return fmt.Errorf("%w: address %s is in none of %v", ErrAddressOutsidePool, a, opts.Pools)
			}
		}
	}
	return nil
}

// checkAuthority reports ErrUnknownAuthority unless one of roots issued
// cert: same name as cert's issuer and a valid signature, or signedBy's
// vouching for it (vouchedBy); and
// ErrCAExpired when every root that issued it is outside its validity
// period at now.
func checkAuthority(now time.Time, cert *x509.Certificate, roots []*x509.Certificate, signedBy *x509.Certificate) error {
	var invalid error
	for _, root := range roots {
		if root == nil || !bytes.Equal(cert.RawIssuer, root.RawSubject) {
			continue
		}
		if !vouchedBy(cert, root, signedBy) && cert.CheckSignatureFrom(root) != nil {
			continue
		}
		switch {
		case now.Before(root.NotBefore):
			invalid = fmt.Errorf("%w: issuing CA %q valid from %s, now is %s", ErrCAExpired,
				root.Subject.String(), root.NotBefore.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
		case now.After(root.NotAfter):
			invalid = fmt.Errorf("%w: issuing CA %q expired at %s, now is %s", ErrCAExpired,
				root.Subject.String(), root.NotAfter.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
		default:
			return nil
		}
	}
	if invalid != nil {
		return invalid
	}
	return fmt.Errorf("%w: issuer %q (authority key id %x) matches none of the %d trusted CAs",
		ErrUnknownAuthority, cert.Issuer.String(), cert.AuthorityKeyId, len(roots))
}

// inPools reports whether a lies in one of pools.
func inPools(a netip.Addr, pools []netip.Prefix) bool {
	for _, p := range pools {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

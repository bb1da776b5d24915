package gateway

import (
	"bytes"
	"crypto/x509"
	"fmt"
	"slices"
	"time"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/wgcert"
)

// A TrustUpdate is what AcceptRoots made of a CA bundle.
type TrustUpdate struct {
	// Trusted are the roots to trust from now on: the candidates of the
	// bundle that were accepted.
	Trusted []*x509.Certificate
	// Added are the roots of Trusted whose key was not pinned before.
	Added []*x509.Certificate
	// Dropped are the pinned roots whose key the bundle no longer holds.
	Dropped []*x509.Certificate
	// Refused are the candidates that were not accepted, with the reason.
	Refused []RefusedCA
}

// A RefusedCA is a self-signed CA of a bundle that is not trusted.
type RefusedCA struct {
	Cert   *x509.Certificate
	Reason string
}

// Changed reports whether the update trusts other keys than were pinned.
func (u TrustUpdate) Changed() bool { return len(u.Added) > 0 || len(u.Dropped) > 0 }

// AcceptRoots decides, at now, which roots of a CA bundle fetched from the
// mount may be trusted, given the roots already pinned. The bundle comes
// over the channel it is meant to secure, so it can narrow trust but never
// widen it:
//
//   - a self-signed CA certificate in the bundle is a candidate root;
//   - a candidate whose key (SPKI) is a pinned root's key is accepted (the
//     same CA, or the same key certified again);
//   - another candidate is accepted only when the bundle also holds a
//     cross-signature: a CA certificate with the candidate's subject and
//     key, issued and signed by a pinned root, both the cross-signature and
//     that root valid at now;
//   - pinned roots whose key the bundle no longer holds are dropped.
//
// When nothing would be left to trust, AcceptRoots returns ErrNoTrustedCA
// and the caller keeps its pinned roots: a bundle cannot empty the trust
// (which would make the next start trust whatever it is shown).
func AcceptRoots(now time.Time, pinned, bundle []*x509.Certificate) (TrustUpdate, error) {
	var u TrustUpdate
	for _, c := range bundle {
		if !selfSigned(c) || slices.ContainsFunc(u.Trusted, func(o *x509.Certificate) bool { return o.Equal(c) }) {
			continue
		}
		if slices.ContainsFunc(pinned, sameKey(c)) {
			u.Trusted = append(u.Trusted, c)
			continue
		}
		if reason := crossSigned(now, c, pinned, bundle); reason != "" {
			u.Refused = append(u.Refused, RefusedCA{Cert: c, Reason: reason})
			continue
		}
		u.Trusted = append(u.Trusted, c)
		u.Added = append(u.Added, c)
	}
	for _, p := range pinned {
		if !slices.ContainsFunc(u.Trusted, sameKey(p)) {
			u.Dropped = append(u.Dropped, p)
		}
	}
	if len(u.Trusted) == 0 {
		return u, fmt.Errorf("%w: %d certificates, none of the %d pinned CAs and no CA cross-signed by one", ErrNoTrustedCA, len(bundle), len(pinned))
	}
	return u, nil
}

// crossSigned returns "" when bundle holds a valid cross-signature of
// candidate by one of pinned at now, or why it does not.
func crossSigned(now time.Time, candidate *x509.Certificate, pinned, bundle []*x509.Certificate) string {
	reason := "not cross-signed by a pinned CA"
	for _, x := range bundle {
		if selfSigned(x) || !x.IsCA || !bytes.Equal(x.RawSubject, candidate.RawSubject) ||
			!bytes.Equal(x.RawSubjectPublicKeyInfo, candidate.RawSubjectPublicKeyInfo) {
			continue
		}
		if !validAt(now, x) {
			reason = "its cross-signature is not valid now"
			continue
		}
		for _, p := range pinned {
			if !bytes.Equal(x.RawIssuer, p.RawSubject) || x.CheckSignatureFrom(p) != nil {
				continue
			}
			if !validAt(now, p) {
				reason = "cross-signed by a pinned CA that is not valid now"
				continue
			}
			return ""
		}
	}
	return reason
}

// selfSigned reports whether c is a CA certificate that signs itself
// (wgcert.SelfSigned).
func selfSigned(c *x509.Certificate) bool {
	return c.BasicConstraintsValid && c.IsCA && wgcert.SelfSigned(c)
}

// sameKey matches certificates with c's public key.
func sameKey(c *x509.Certificate) func(*x509.Certificate) bool {
	return func(o *x509.Certificate) bool {
		return bytes.Equal(o.RawSubjectPublicKeyInfo, c.RawSubjectPublicKeyInfo)
	}
}

// validAt reports whether now lies within c's validity period.
func validAt(now time.Time, c *x509.Certificate) bool {
	return !now.Before(c.NotBefore) && !now.After(c.NotAfter)
}

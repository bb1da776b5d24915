package wgcert

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"fmt"
)

// A CA signs the answers of a gateway's peer feed besides certificates:
// over the SHA-256 of each certificate's DER in the answer, in its order.
// It says of those bytes what each certificate's own signature says, that
// the CA issued them, so a gateway that checked the answer's signature
// need not check each certificate's (VerifyOptions.SignedBy).

// feedPrefix starts every feed message a CA signs. A CA signs nothing
// else that starts so: a TBSCertificate or a TBSCertList is a DER
// SEQUENCE, whose first byte is 0x30, and this starts with 'w'. The NUL
// ends the label, so that no other label can be a prefix of the message.
const feedPrefix = "wg-gateway-feed-v1\x00"

// DigestSize is the size of one certificate's digest in a feed message:
// a SHA-256.
const DigestSize = sha256.Size

// FeedDigest is the digest of a DER certificate in a feed message.
func FeedDigest(der []byte) [DigestSize]byte { return sha256.Sum256(der) }

// FeedMessage returns the message a CA signs over an answer whose
// certificates have digests: the label feedPrefix, then digests (one
// DigestSize digest per certificate, in the answer's order).
func FeedMessage(digests []byte) []byte {
	msg := make([]byte, 0, len(feedPrefix)+len(digests))
	msg = append(msg, feedPrefix...)
	return append(msg, digests...)
}

// SignFeed signs FeedMessage(digests) with a CA's key as the CA signs
// certificates: Ed25519 over the message, ECDSA P-256 over its SHA-256.
// digests must be whole digests (ErrBadFeedSignature); a key of another
// kind is ErrUnsupportedKey.
func SignFeed(signer crypto.Signer, digests []byte) ([]byte, error) {
	if signer == nil {
		return nil, fmt.Errorf("%w: no key", ErrInvalidCA)
	}
	if len(digests)%DigestSize != 0 {
		return nil, fmt.Errorf("%w: %d bytes of digests, not a multiple of %d", ErrBadFeedSignature, len(digests), DigestSize)
	}
	alg, err := signatureAlgorithmFor(signer.Public())
	if err != nil {
		return nil, err
	}
	sig, err := alg.sign(signer, FeedMessage(digests))
	if err != nil {
		return nil, fmt.Errorf("sign feed answer: %w", err)
	}
	return sig, nil
}

// VerifyFeed reports whether sig is ca's signature (SignFeed) over
// digests, or why not (an error wrapping ErrBadFeedSignature). ca must
// be one that may sign certificates, by the rules
// x509.Certificate.CheckSignatureFrom applies to a parent, with an
// Ed25519 or ECDSA P-256 key; the algorithm is the key's, never the
// answer's to choose. VerifyFeed does not look at ca's validity period:
// Verify checks it for each certificate.
func VerifyFeed(ca *x509.Certificate, digests, sig []byte) error {
	if ca == nil {
		return fmt.Errorf("%w: no CA", ErrBadFeedSignature)
	}
	if len(digests) == 0 || len(digests)%DigestSize != 0 {
		return fmt.Errorf("%w: %d bytes of digests, not a positive multiple of %d", ErrBadFeedSignature, len(digests), DigestSize)
	}
	if err := checkIssuer(ca); err != nil {
		return fmt.Errorf("%w: %w", ErrBadFeedSignature, err)
	}
	msg := FeedMessage(digests)
	switch pub := ca.PublicKey.(type) {
	case ed25519.PublicKey:
		if ed25519.Verify(pub, msg, sig) {
			return nil
		}
	case *ecdsa.PublicKey:
		if _, err := signatureAlgorithmFor(pub); err != nil {
			return fmt.Errorf("%w: %w", ErrBadFeedSignature, err)
		}
		sum := sha256.Sum256(msg)
		if ecdsa.VerifyASN1(pub, sum[:], sig) {
			return nil
		}
	default:
		return fmt.Errorf("%w: %w: %T", ErrBadFeedSignature, ErrUnsupportedKey, ca.PublicKey)
	}
	return fmt.Errorf("%w: the signature does not verify with the key of %q", ErrBadFeedSignature, ca.Subject.String())
}

// vouchedBy reports whether the caller's check of signedBy's signature
// over cert's DER (opts.SignedBy) stands for cert's own signature by
// root: root has signedBy's key and may sign certificates, and cert
// names root as its issuer, by name (the caller of vouchedBy checks it)
// and by authority key identifier when both have one.
func vouchedBy(cert, root, signedBy *x509.Certificate) bool {
	if signedBy == nil || !bytes.Equal(root.RawSubjectPublicKeyInfo, signedBy.RawSubjectPublicKeyInfo) {
		return false
	}
	if len(cert.AuthorityKeyId) > 0 && len(root.SubjectKeyId) > 0 && !bytes.Equal(cert.AuthorityKeyId, root.SubjectKeyId) {
		return false
	}
	return checkIssuer(root) == nil
}

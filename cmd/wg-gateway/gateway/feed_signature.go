package gateway

import (
	"bytes"
	"crypto/x509"
	"encoding/hex"
	"strings"
	"sync"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/peerfeed"
	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/wgcert"
)

// A signedAnswer is the signature of one feed answer
// (peerfeed.Signature) as the verifiers of its entries read it: checked
// once, by the first verifier that meets an entry it lists, against the
// trusted CAs with the key id it names. An entry whose certificate's
// digest is the one the signature lists at the entry's position is
// vouched for by that CA (wgcert.VerifyOptions.SignedBy); any other
// entry, and every entry of an answer whose signature does not verify
// with a trusted CA, is verified as if the answer had no signature.
type signedAnswer struct {
	sig  *peerfeed.Signature
	once sync.Once
	// by is the trusted CA whose signature sig is; nil when it is no
	// trusted CA's. Set by once.
	by *x509.Certificate
	// refused, if not nil, is told once when the signature was checked
	// and no trusted CA's key verifies it.
	refused func(*peerfeed.Signature)
}

// newSignedAnswer is the signedAnswer of an answer's signature; nil (no
// entry vouched for) when it has none. refused, if not nil, is called
// (once, on a verifier's goroutine) when the signature turns out to be no
// trusted CA's: the answer was changed on its way, or is signed by a CA
// this gateway does not trust (yet).
func newSignedAnswer(sig *peerfeed.Signature, refused func(*peerfeed.Signature)) *signedAnswer {
	if sig == nil {
		return nil
	}
	return &signedAnswer{sig: sig, refused: refused}
}

// vouch returns the trusted CA among roots that vouches for the
// certificate der at position pos of the answer, or nil: the signature
// lists der's digest at pos (not zeros) and verifies with that CA's key.
// The signature is checked the first time an entry's digest matches, so
// an answer none of whose entries match costs no signature check. roots
// must be the same at every call.
func (s *signedAnswer) vouch(roots []*x509.Certificate, pos int, der []byte) *x509.Certificate {
	if s == nil || pos < 0 || pos >= len(s.sig.Digests)/wgcert.DigestSize {
		return nil
	}
	listed := s.sig.Digests[pos*wgcert.DigestSize : (pos+1)*wgcert.DigestSize]
	var zero [wgcert.DigestSize]byte
	if bytes.Equal(listed, zero[:]) {
		return nil
	}
	if d := wgcert.FeedDigest(der); !bytes.Equal(listed, d[:]) {
		return nil
	}
	s.once.Do(func() {
		if s.by = s.signer(roots); s.by == nil && s.refused != nil {
			s.refused(s.sig)
		}
	})
	return s.by
}

// signer returns the root that signed the answer: one with the subject
// key identifier the signature names whose key verifies it; nil when
// none does.
func (s *signedAnswer) signer(roots []*x509.Certificate) *x509.Certificate {
	id, err := hex.DecodeString(strings.ReplaceAll(s.sig.KeyID, ":", ""))
	if err != nil || len(id) == 0 {
		return nil
	}
	for _, root := range roots {
		if root != nil && bytes.Equal(root.SubjectKeyId, id) && wgcert.VerifyFeed(root, s.sig.Digests, s.sig.Value) == nil {
			return root
		}
	}
	return nil
}

// signatureRefused logs and counts a feed answer whose signature no
// trusted CA's key verifies (newSignedAnswer): its certificates are then
// each verified on their own, so nothing is admitted on its strength, but
// an answer changed between Vault and the gateway is worth an operator's
// look. It runs on a verifier's goroutine.
func (d *Daemon) signatureRefused(sig *peerfeed.Signature) {
	d.logger.Warn("a feed answer's signature is no trusted CA's; verifying each of its certificates instead",
		"key_id", sig.KeyID)
	d.metrics.signatureRefused.Inc()
}

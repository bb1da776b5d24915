package backend

import (
	"crypto"
	"fmt"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/peerfeed"
	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/wgcert"
)

// A feedSigner signs the peers of feed answers with the mount's current
// CA (peerfeed.Signature): a gateway that trusts the CA then checks one
// signature per answer instead of one per certificate.
type feedSigner struct {
	keyID  string
	signer crypto.Signer
}

// feedSignerOf is the signer of ca's answers, or nil (answers go
// unsigned) when there is no CA or when another CA the mount keeps has
// the current one's key id: the records of that CA would name the same
// issuer_key_id, and the current CA must vouch only for what it signed.
func feedSignerOf(ca *caBundle) *feedSigner {
	if ca == nil || ca.signer == nil || ca.keyID == "" {
		return nil
	}
	for _, a := range ca.authorities[1:] {
		if a.keyID == ca.keyID {
			return nil
		}
	}
	return &feedSigner{keyID: ca.keyID, signer: ca.signer}
}

// id names the signer in the key of a shared full answer ("" for none).
func (s *feedSigner) id() string {
	if s == nil {
		return ""
	}
	return s.keyID
}

// sign returns the signature over the certificates of recs, the peers of
// one answer in its order: the digest of each certificate the CA issued
// (by its record's issuer_key_id), zeros for the others. Without a
// signer, without peers or with more than peerfeed.MaxSigned, nil. It
// runs outside the registry's lock: about a millisecond of hashing and
// one signature per thousand peers.
func (s *feedSigner) sign(recs []*certRecord) (*peerfeed.Signature, error) {
	if s == nil || len(recs) == 0 || len(recs) > peerfeed.MaxSigned {
		return nil, nil
	}
	digests := make([]byte, len(recs)*wgcert.DigestSize)
	for i, rec := range recs {
		if rec.IssuerKeyID != s.keyID {
			continue // zeros: not ours to vouch for
		}
		d := wgcert.FeedDigest(rec.Certificate)
		copy(digests[i*wgcert.DigestSize:], d[:])
	}
	value, err := wgcert.SignFeed(s.signer, digests)
	if err != nil {
		return nil, fmt.Errorf("sign the peer feed: %w", err)
	}
	return &peerfeed.Signature{KeyID: s.keyID, Digests: digests, Value: value}, nil
}

package backend

import (
	"crypto/x509"
	"math/big"
	"sync"
	"time"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/wgcert"
)

// crlValidity is how long a CRL is valid; it is rebuilt after half of it
// even when nothing was revoked.
const crlValidity = 24 * time.Hour

// crlCache holds the last CRLs built, one per kept CA with a key. The
// registry's lock guards dirty; build guards the rest, so building never
// holds up issuing.
type crlCache struct {
	dirty bool

	build  sync.Mutex
	crls   []caCRL
	built  time.Time
	issuer *caBundle // the CA set the CRLs were built for
	number int64
}

// caCRL is the CRL of one CA.
type caCRL struct {
	keyID string
	der   []byte
}

// crls returns current CRLs, one per CA of ca that has its key, in ca's
// order (the current CA's first). Each CA's CRL lists the revoked,
// unexpired certificates it signed; a certificate whose record names no CA
// (an older record of a CA without a subject key identifier) is listed by
// the current CA. The cached CRLs are returned unless a revocation
// happened since, the CAs changed, or half their validity passed, so a
// burst of revocations between two reads costs one rebuild.
func (r *registry) crls(ca *caBundle, now time.Time) ([]caCRL, error) {
	c := &r.crlCache
	c.build.Lock()
	defer c.build.Unlock()

	r.mu.Lock()
	fresh := !c.dirty && c.issuer == ca && now.Sub(c.built) < crlValidity/2
	byIssuer := make(map[string][]x509.RevocationListEntry)
	if !fresh {
		for _, d := range r.dead {
			if d.rec.revoked() && d.rec.ExpiresAt.After(now) {
				issuer := d.rec.IssuerKeyID
				if issuer == "" {
					issuer = ca.keyID
				}
				byIssuer[issuer] = append(byIssuer[issuer],
					x509.RevocationListEntry{SerialNumber: d.serial, RevocationTime: d.rec.RevokedAt})
			}
		}
		c.dirty = false
	}
	r.mu.Unlock()
	if fresh {
		return c.crls, nil
	}

	// CRL numbers follow the clock so that they grow across restarts; one
	// number for every CA's CRL of a build keeps each CA's growing.
	c.number = max(c.number+1, now.UnixMicro())
	out := make([]caCRL, 0, len(ca.authorities))
	for _, a := range ca.authorities {
		if a.signer == nil {
			continue
		}
		der, err := wgcert.CreateCRL(a.cert, a.signer, byIssuer[a.keyID], big.NewInt(c.number), now, crlValidity)
		if err != nil {
			r.markCRLDirty()
			return nil, err
		}
		out = append(out, caCRL{keyID: a.keyID, der: der})
	}
	c.crls, c.built, c.issuer = out, now, ca
	return out, nil
}

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

// crlCache holds the last CRL built. The registry's lock guards dirty;
// build guards the rest, so building never holds up issuing.
type crlCache struct {
	dirty bool

	build  sync.Mutex
	der    []byte
	built  time.Time
	issuer *x509.Certificate
	number int64
}

// crl returns a current CRL signed by ca: the cached one, or a new one when
// a revocation happened since, the CA changed, or half its validity passed.
// A burst of revocations between two reads costs one rebuild.
func (r *registry) crl(ca *caBundle, now time.Time) ([]byte, error) {
	c := &r.crlCache
	c.build.Lock()
	defer c.build.Unlock()

	r.mu.Lock()
	fresh := !c.dirty && c.issuer == ca.cert && now.Sub(c.built) < crlValidity/2
	var entries []x509.RevocationListEntry
	if !fresh {
		for _, d := range r.dead {
			if !d.revokedAt.IsZero() && d.expiresAt.After(now) {
				entries = append(entries, x509.RevocationListEntry{SerialNumber: d.serial, RevocationTime: d.revokedAt})
			}
		}
		c.dirty = false
	}
	r.mu.Unlock()
	if fresh {
		return c.der, nil
	}

	// CRL numbers follow the clock so that they grow across restarts.
	c.number = max(c.number+1, now.UnixMicro())
	der, err := wgcert.CreateCRL(ca.cert, ca.signer, entries, big.NewInt(c.number), now, crlValidity)
	if err != nil {
		r.markCRLDirty()
		return nil, err
	}
	c.der, c.built, c.issuer = der, now, ca.cert
	return der, nil
}

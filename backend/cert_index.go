package backend

import (
	"net/netip"
)

// Fields a certificate is indexed, found and revoked by (their API names).
const (
	fieldCommonName = "common_name"
	fieldEntityID   = "entity_id"
	fieldRole       = "role"
	fieldGateway    = "gateway"
	fieldAddress    = "address"
	fieldPublicKey  = "public_key"
)

// indexedFields are the fields certIndexes keeps, in the order find reads
// them from a request.
var indexedFields = []string{fieldCommonName, fieldEntityID, fieldRole, fieldGateway, fieldAddress, fieldPublicKey}

// certIndexes map, for each indexed field, a value to the serials of the
// certificates that have it, so that a query touches only the certificates
// matching one of its filters.
type certIndexes map[string]map[string]map[string]struct{}

func newCertIndexes() certIndexes {
	ix := make(certIndexes, len(indexedFields))
	for _, f := range indexedFields {
		ix[f] = make(map[string]map[string]struct{})
	}
	return ix
}

// add indexes rec under each of its values.
func (ix certIndexes) add(rec *certRecord) {
	for f, values := range indexValues(rec) {
		for _, v := range values {
			set, ok := ix[f][v]
			if !ok {
				set = make(map[string]struct{})
				ix[f][v] = set
			}
			set[rec.SerialNumber] = struct{}{}
		}
	}
}

// remove drops rec from each of its values' sets.
func (ix certIndexes) remove(rec *certRecord) {
	for f, values := range indexValues(rec) {
		for _, v := range values {
			if set, ok := ix[f][v]; ok {
				delete(set, rec.SerialNumber)
				if len(set) == 0 {
					delete(ix[f], v)
				}
			}
		}
	}
}

// indexValues are the values rec is indexed under, by field: addresses
// without their prefix length, the key as its X25519 point (wgkey.Point).
func indexValues(rec *certRecord) map[string][]string {
	out := map[string][]string{
		fieldCommonName: {rec.CommonName},
		fieldEntityID:   {rec.EntityID},
		fieldRole:       {rec.Role},
		fieldGateway:    {rec.Gateway},
	}
	if p, ok := keyPoint(rec.PublicKey); ok {
		out[fieldPublicKey] = []string{p.String()}
	}
	for _, a := range rec.addrs() {
		out[fieldAddress] = append(out[fieldAddress], a.Unmap().String())
	}
	return out
}

// addressKey is the index value of an address as a caller writes it: a
// bare address or a host prefix (10.77.3.4, 10.77.3.4/32, fd77::2/128).
func addressKey(s string) (string, bool) {
	if a, err := netip.ParseAddr(s); err == nil && a.Zone() == "" {
		return a.Unmap().String(), true
	}
	if p, err := netip.ParsePrefix(s); err == nil && p.IsSingleIP() {
		return p.Addr().Unmap().String(), true
	}
	return "", false
}

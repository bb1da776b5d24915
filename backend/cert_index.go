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
	for _, fv := range indexValues(rec) {
		set, ok := ix[fv.field][fv.value]
		if !ok {
			set = make(map[string]struct{})
			ix[fv.field][fv.value] = set
		}
		set[rec.SerialNumber] = struct{}{}
	}
}

// remove drops rec from each of its values' sets.
func (ix certIndexes) remove(rec *certRecord) {
	for _, fv := range indexValues(rec) {
		if set, ok := ix[fv.field][fv.value]; ok {
			delete(set, rec.SerialNumber)
			if len(set) == 0 {
				delete(ix[fv.field], fv.value)
			}
		}
	}
}

// A fieldValue is one value a certificate is indexed under.
type fieldValue struct{ field, value string }

// indexValues are the values rec is indexed under: addresses without
// their prefix length, the key as its X25519 point (wgkey.Point). A slice,
// not a map: it is made twice per issue and per revocation.
func indexValues(rec *certRecord) []fieldValue {
	out := make([]fieldValue, 0, 7)
	out = append(out,
		fieldValue{fieldCommonName, rec.CommonName},
		fieldValue{fieldEntityID, rec.EntityID},
		fieldValue{fieldRole, rec.Role},
		fieldValue{fieldGateway, rec.Gateway})
	if p, ok := keyPoint(rec.PublicKey); ok {
		out = append(out, fieldValue{fieldPublicKey, p.String()})
	}
	for _, a := range rec.addrs() {
		out = append(out, fieldValue{fieldAddress, a.Unmap().String()})
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

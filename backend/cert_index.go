package backend

import (
	"encoding/base64"
	"net/netip"
	"strings"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/wgkey"
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
type certIndexes map[string]map[string]serialSet

func newCertIndexes() certIndexes {
	ix := make(certIndexes, len(indexedFields))
	for _, f := range indexedFields {
		ix[f] = make(map[string]serialSet)
	}
	return ix
}

// A serialSet is the serials of one index value. Most values (a key, an
// address, a device's common name) belong to one certificate: that one is
// held as a string, and a map is made only for a second.
type serialSet struct {
	one  string
	many map[string]struct{}
}

// has reports whether serial is in the set.
func (s serialSet) has(serial string) bool {
	if s.many != nil {
		_, ok := s.many[serial]
		return ok
	}
	return serial != "" && s.one == serial
}

// len is the number of serials in the set.
func (s serialSet) len() int {
	switch {
	case s.many != nil:
		return len(s.many)
	case s.one != "":
		return 1
	}
	return 0
}

// each calls fn with every serial of the set.
func (s serialSet) each(fn func(serial string)) {
	if s.many == nil {
		if s.one != "" {
			fn(s.one)
		}
		return
	}
	for serial := range s.many {
		fn(serial)
	}
}

// with is the set with serial added.
func (s serialSet) with(serial string) serialSet {
	switch {
	case s.many != nil:
		s.many[serial] = struct{}{}
	case s.one == "" || s.one == serial:
		s.one = serial
	default:
		s = serialSet{many: map[string]struct{}{s.one: {}, serial: {}}}
	}
	return s
}

// without is the set with serial removed; a set left with one serial
// drops its map.
func (s serialSet) without(serial string) serialSet {
	if s.many == nil {
		if s.one == serial {
			s.one = ""
		}
		return s
	}
	delete(s.many, serial)
	if len(s.many) == 1 {
		for last := range s.many {
			return serialSet{one: last}
		}
	}
	return s
}

// add indexes serial under each of vals (its record's indexValues).
func (ix certIndexes) add(serial string, vals []fieldValue) {
	for _, fv := range vals {
		ix[fv.field][fv.value] = ix[fv.field][fv.value].with(serial)
	}
}

// remove drops serial from the sets of each of vals (its record's
// indexValues).
func (ix certIndexes) remove(serial string, vals []fieldValue) {
	for _, fv := range vals {
		if set, ok := ix[fv.field][fv.value]; ok {
			if set = set.without(serial); set.len() == 0 {
				delete(ix[fv.field], fv.value)
			} else {
				ix[fv.field][fv.value] = set
			}
		}
	}
}

// A fieldValue is one value a certificate is indexed under.
type fieldValue struct{ field, value string }

// indexValues are the values rec is indexed under: addresses without
// their prefix length, the key as its X25519 point (wgkey.Point). A slice,
// not a map: it is made on every issue and revocation. Values that are
// already spelled so in the record (the key, almost always its point; an
// address, before its /32 or /128) are the record's strings, not copies:
// the index keeps them for every certificate.
func indexValues(rec *certRecord) []fieldValue {
	out := make([]fieldValue, 0, 7)
	out = append(out,
		fieldValue{fieldCommonName, rec.CommonName},
		fieldValue{fieldEntityID, rec.EntityID},
		fieldValue{fieldRole, rec.Role},
		fieldValue{fieldGateway, rec.Gateway})
	if k, err := wgtypes.ParseKey(rec.PublicKey); err == nil {
		p := wgkey.Point(k)
		var buf [44]byte
		base64.StdEncoding.Encode(buf[:], p[:])
		v := rec.PublicKey
		if string(buf[:]) != v {
			v = string(buf[:])
		}
		out = append(out, fieldValue{fieldPublicKey, v})
	}
	for _, s := range rec.Addresses {
		pfx, err := netip.ParsePrefix(s)
		if err != nil {
			continue
		}
		a := pfx.Addr().Unmap()
		var buf [64]byte
		v, _, _ := strings.Cut(s, "/")
		if string(a.AppendTo(buf[:0])) != v {
			v = a.String()
		}
		out = append(out, fieldValue{fieldAddress, v})
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

package wgpolicy

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"net/netip"
	"slices"
)

// compare orders destinations: IPv4 before IPv6, then by address, prefix
// length, protocol and ports. It is the order of Canonical and of the DER.
func compare(a, b Destination) int {
	return cmp.Or(
		comparePrefix(a.Prefix, b.Prefix),
		cmp.Compare(a.Proto, b.Proto),
		cmp.Compare(a.PortLo, b.PortLo),
		cmp.Compare(a.PortHi, b.PortHi),
	)
}

// comparePrefix orders prefixes: IPv4 before IPv6, then by address, then
// by length.
func comparePrefix(a, b netip.Prefix) int {
	return cmp.Or(a.Addr().Compare(b.Addr()), cmp.Compare(a.Bits(), b.Bits()))
}

// Canonical returns the destinations sorted (IPv4 before IPv6, then by
// address, prefix length, protocol and ports) without duplicates, in a new
// slice. Two lists that allow the same entries have the same canonical form.
func Canonical(ds []Destination) []Destination {
	out := slices.Clone(ds)
	slices.SortFunc(out, compare)
	return slices.Compact(out)
}

// Key returns a stable identity of a rule set: the hex SHA-256 of its
// canonical text, one entry per line. Lists with the same canonical form
// have the same Key, so gateways can share one chain or set per distinct
// Key. The Key of an empty list is "".
func Key(ds []Destination) string {
	if len(ds) == 0 {
		return ""
	}
	h := sha256.New()
	for _, d := range Canonical(ds) {
		h.Write([]byte(d.String()))
		h.Write([]byte{'\n'})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Prefixes returns the distinct prefixes of the destinations, sorted (IPv4
// first): what a device routes into the tunnel (wg-quick AllowedIPs).
func Prefixes(ds []Destination) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(ds))
	for _, d := range ds {
		out = append(out, d.Prefix)
	}
	slices.SortFunc(out, comparePrefix)
	return slices.Compact(out)
}

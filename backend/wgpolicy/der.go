package wgpolicy

import (
	"bytes"
	"encoding/asn1"
	"fmt"
	"net/netip"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// OID identifies the access policy extension:
// 1.2.840.113556.1.8000.2554.57310.52818.10320.19346.36547.453485.2902469.1.
//
// The project has no IANA private enterprise number, and the UUID form of
// ITU-T X.667 (2.25.<128-bit integer>) cannot be used: Go's crypto/x509
// reads extension OIDs with cryptobyte, which accepts arcs of at most 31
// bits and rejects the whole certificate otherwise ("x509: malformed
// extension OID field") — Vault, the gateway and every Go client would fail
// to parse it. The OID is therefore the same kind of UUID
// (dfdece52-2850-4b92-8ec3-06eb6d2c49c5, generated once for this project)
// under Microsoft's arc for OIDs derived from a GUID without registration
// (1.2.840.113556.1.8000.2554, then the GUID's hex digits in groups of 4, 4,
// 4, 4, 4, 6 and 6 as decimal arcs), which keeps every arc below 2^24 and is
// as unique as the UUID. The final arc 1 is this extension within the
// project's arc.
var OID = asn1.ObjectIdentifier{1, 2, 840, 113556, 1, 8000, 2554, 57310, 52818, 10320, 19346, 36547, 453485, 2902469, 1}

// Marshal returns the DER of the extension value for a rule set:
//
//	WireGuardAccessPolicy ::= SEQUENCE SIZE (1..256) OF Destination
//	    -- in canonical order (see Canonical), without duplicates
//	Destination ::= SEQUENCE {
//	    address   OCTET STRING (SIZE (4 | 16)), -- network address, host bits zero
//	    length    INTEGER (0..128),              -- prefix length, at most 32 for IPv4
//	    protocol  INTEGER { any(0), tcp(1), udp(2), icmp(3) },
//	    ports     PortRange OPTIONAL             -- present iff protocol is tcp or udp
//	}
//	PortRange ::= SEQUENCE { low INTEGER (1..65535), high INTEGER (1..65535) }
//	    -- low <= high
//
// The destinations are written in canonical order. An empty list is
// ErrEmpty (no policy is the absence of the extension); an invalid
// destination wraps ErrMalformed.
func Marshal(ds []Destination) ([]byte, error) {
	if len(ds) == 0 {
		return nil, ErrEmpty
	}
	canon := Canonical(ds)
	if len(canon) > MaxDestinations {
		return nil, fmt.Errorf("%w: %d entries, at most %d", ErrTooMany, len(canon), MaxDestinations)
	}
	for _, d := range canon {
		if err := d.valid(); err != nil {
			return nil, fmt.Errorf("%w %q: %s", ErrMalformed, d.String(), err)
		}
	}
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		for _, d := range canon {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1OctetString(d.Prefix.Addr().AsSlice())
				b.AddASN1Int64(int64(d.Prefix.Bits()))
				b.AddASN1Int64(int64(d.Proto))
				if d.Proto.hasPorts() {
					b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
						b.AddASN1Int64(int64(d.PortLo))
						b.AddASN1Int64(int64(d.PortHi))
					})
				}
			})
		}
	})
	return b.Bytes()
}

// Unmarshal decodes an extension value. It is strict: it accepts exactly
// what Marshal writes (DER, canonical order, no duplicates, no trailing
// data, every destination valid) and wraps ErrBadEncoding otherwise.
func Unmarshal(der []byte) ([]Destination, error) {
	input := cryptobyte.String(der)
	var list cryptobyte.String
	if !input.ReadASN1(&list, cbasn1.SEQUENCE) || !input.Empty() {
		return nil, fmt.Errorf("%w: not one DER SEQUENCE", ErrBadEncoding)
	}
	var ds []Destination
	for !list.Empty() {
		if len(ds) == MaxDestinations {
			return nil, fmt.Errorf("%w: more than %d destinations", ErrBadEncoding, MaxDestinations)
		}
		d, err := readDestination(&list)
		if err != nil {
			return nil, fmt.Errorf("%w: destination %d: %s", ErrBadEncoding, len(ds)+1, err)
		}
		if len(ds) > 0 && compare(ds[len(ds)-1], d) >= 0 {
			return nil, fmt.Errorf("%w: destination %d (%s) out of canonical order or repeated", ErrBadEncoding, len(ds)+1, d)
		}
		ds = append(ds, d)
	}
	if len(ds) == 0 {
		return nil, fmt.Errorf("%w: %w", ErrBadEncoding, ErrEmpty)
	}
	// Belt and braces: what was read must be what Marshal writes.
	again, err := Marshal(ds)
	if err != nil || !bytes.Equal(again, der) {
		return nil, fmt.Errorf("%w: not the canonical encoding", ErrBadEncoding)
	}
	return ds, nil
}

// readDestination reads one Destination SEQUENCE from s.
func readDestination(s *cryptobyte.String) (Destination, error) {
	var seq cryptobyte.String
	var addr []byte
	var bits, proto int64
	if !s.ReadASN1(&seq, cbasn1.SEQUENCE) ||
		!seq.ReadASN1Bytes(&addr, cbasn1.OCTET_STRING) ||
		!seq.ReadASN1Integer(&bits) ||
		!seq.ReadASN1Integer(&proto) {
		return Destination{}, fmt.Errorf("not a SEQUENCE of address, length, protocol")
	}
	a, ok := netip.AddrFromSlice(addr)
	if !ok {
		return Destination{}, fmt.Errorf("address of %d bytes", len(addr))
	}
	if bits < 0 || bits > int64(a.BitLen()) {
		return Destination{}, fmt.Errorf("prefix length %d", bits)
	}
	if proto < 0 || proto > int64(ProtoICMP) {
		return Destination{}, fmt.Errorf("protocol %d", proto)
	}
	d := Destination{Prefix: netip.PrefixFrom(a, int(bits)), Proto: Proto(proto)}
	if d.Proto.hasPorts() {
		var ports cryptobyte.String
		var lo, hi int64
		if !seq.ReadASN1(&ports, cbasn1.SEQUENCE) || !ports.ReadASN1Integer(&lo) || !ports.ReadASN1Integer(&hi) || !ports.Empty() {
			return Destination{}, fmt.Errorf("bad port range")
		}
		if lo < 1 || lo > 65535 || hi < 1 || hi > 65535 {
			return Destination{}, fmt.Errorf("port out of range")
		}
		d.PortLo, d.PortHi = uint16(lo), uint16(hi)
	}
	if !seq.Empty() {
		return Destination{}, fmt.Errorf("trailing data")
	}
	if err := d.valid(); err != nil {
		return Destination{}, err
	}
	return d, nil
}

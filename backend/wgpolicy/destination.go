package wgpolicy

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// MaxDestinations is the most entries one rule set may hold. It bounds the
// size of a certificate and of what a gateway installs per rule set.
const MaxDestinations = 256

// Proto is a destination's protocol.
type Proto uint8

// The protocols a destination may name.
const (
	ProtoAny  Proto = iota // any protocol (no port)
	ProtoTCP               // with a port range
	ProtoUDP               // with a port range
	ProtoICMP              // ICMP for v4 prefixes, ICMPv6 for v6 prefixes (no port)
)

// String returns the protocol's name in the grammar: "any", "tcp", "udp"
// or "icmp".
func (p Proto) String() string {
	switch p {
	case ProtoAny:
		return "any"
	case ProtoTCP:
		return "tcp"
	case ProtoUDP:
		return "udp"
	case ProtoICMP:
		return "icmp"
	}
	return "proto(" + strconv.Itoa(int(p)) + ")"
}

// hasPorts reports whether destinations of protocol p carry a port range.
func (p Proto) hasPorts() bool {
	return p == ProtoTCP || p == ProtoUDP
}

// A Destination is one entry of allowed_destinations.
type Destination struct {
	Prefix         netip.Prefix // masked (Prefix.Masked())
	Proto          Proto
	PortLo, PortHi uint16 // 0,0 unless Proto is TCP/UDP; PortLo<=PortHi, >=1
}

// String returns the canonical text of d, the form Parse reads back:
// "10.20.0.0/24", "10.30.0.5/32:443/tcp", "10.30.0.0/24:8000-8099/udp",
// "fd00::/64:icmp".
func (d Destination) String() string {
	s := d.Prefix.String()
	switch {
	case d.Proto == ProtoAny:
		return s
	case d.Proto == ProtoICMP:
		return s + ":icmp"
	case d.PortLo == d.PortHi:
		return fmt.Sprintf("%s:%d/%s", s, d.PortLo, d.Proto)
	default:
		return fmt.Sprintf("%s:%d-%d/%s", s, d.PortLo, d.PortHi, d.Proto)
	}
}

// valid reports why d is not a destination Parse could return, or nil.
func (d Destination) valid() error {
	p := d.Prefix
	switch {
	case !p.IsValid():
		return fmt.Errorf("invalid prefix")
	case p.Addr().Zone() != "":
		return fmt.Errorf("prefix has a zone")
	case p.Addr().Is4In6():
		return fmt.Errorf("IPv4-mapped IPv6 prefix (write the IPv4 prefix)")
	case p != p.Masked():
		return fmt.Errorf("host bits set (the prefix is %s)", p.Masked())
	}
	switch {
	case d.Proto > ProtoICMP:
		return fmt.Errorf("unknown protocol %d", d.Proto)
	case d.Proto.hasPorts() && (d.PortLo == 0 || d.PortHi == 0):
		return fmt.Errorf("port 0")
	case d.Proto.hasPorts() && d.PortLo > d.PortHi:
		return fmt.Errorf("port range %d-%d is reversed", d.PortLo, d.PortHi)
	case !d.Proto.hasPorts() && (d.PortLo != 0 || d.PortHi != 0):
		return fmt.Errorf("ports with protocol %s", d.Proto)
	}
	return nil
}

// Parse parses a role's list of destinations, one entry per string (see the
// package documentation for the grammar). A malformed entry is an error
// wrapping ErrMalformed that quotes the entry and says what is wrong (the
// first five malformed entries of the list, each so); an empty entry is
// malformed;
// more than MaxDestinations entries is ErrTooMany. The result is in the
// order given; Canonical sorts and deduplicates it.
func Parse(entries []string) ([]Destination, error) {
	if len(entries) > MaxDestinations {
		return nil, fmt.Errorf("%w: %d entries, at most %d", ErrTooMany, len(entries), MaxDestinations)
	}
	ds := make([]Destination, 0, len(entries))
	var bad []string
	for _, e := range entries {
		d, err := parseEntry(e)
		if err != nil {
			bad = append(bad, fmt.Sprintf("%q: %s", e, err))
			continue
		}
		ds = append(ds, d)
	}
	switch {
	case len(bad) > maxReported:
		return nil, fmt.Errorf("%w %s; and %d more", ErrMalformed, strings.Join(bad[:maxReported], "; "+ErrMalformed.Error()+" "), len(bad)-maxReported)
	case len(bad) > 0:
		return nil, fmt.Errorf("%w %s", ErrMalformed, strings.Join(bad, "; "+ErrMalformed.Error()+" "))
	}
	return ds, nil
}

// maxReported is how many malformed entries one error of Parse names.
const maxReported = 5

// wantPrefix says what an entry starts with.
const wantPrefix = "want address/bits first, such as 10.20.0.0/24 or 10.30.0.5/32:443/tcp"

// parseEntry parses one entry; its error says what is wrong, not which entry.
func parseEntry(e string) (Destination, error) {
	slash := strings.IndexByte(e, '/')
	if slash < 0 {
		return Destination{}, fmt.Errorf("no prefix: %s", wantPrefix)
	}
	prefixText, portsText, hasPorts := e, "", false
	if colon := strings.IndexByte(e[slash:], ':'); colon >= 0 {
		prefixText, portsText, hasPorts = e[:slash+colon], e[slash+colon+1:], true
	}
	p, err := netip.ParsePrefix(prefixText)
	if err != nil {
		return Destination{}, fmt.Errorf("bad prefix %q: %s", prefixText, wantPrefix)
	}
	d := Destination{Prefix: p}
	if hasPorts {
		if d.Proto, d.PortLo, d.PortHi, err = parsePorts(portsText); err != nil {
			return Destination{}, err
		}
	}
	if err := d.valid(); err != nil {
		return Destination{}, err
	}
	return d, nil
}

// parsePorts parses what follows the ':' of an entry: "icmp", "443/tcp" or
// "8000-8099/udp".
func parsePorts(s string) (Proto, uint16, uint16, error) {
	if s == "icmp" {
		return ProtoICMP, 0, 0, nil
	}
	rangeText, protoText, ok := strings.Cut(s, "/")
	if !ok {
		return 0, 0, 0, fmt.Errorf("want icmp, port/proto or low-high/proto after ':', got %q", s)
	}
	var proto Proto
	switch protoText {
	case "tcp":
		proto = ProtoTCP
	case "udp":
		proto = ProtoUDP
	default:
		return 0, 0, 0, fmt.Errorf("protocol %q: want tcp or udp (or icmp without a port)", protoText)
	}
	loText, hiText, isRange := strings.Cut(rangeText, "-")
	lo, err := parsePort(loText)
	if err != nil {
		return 0, 0, 0, err
	}
	hi := lo
	if isRange {
		if hi, err = parsePort(hiText); err != nil {
			return 0, 0, 0, err
		}
	}
	return proto, lo, hi, nil
}

// parsePort parses a port: 1..65535 in decimal, without sign or leading
// zeros, so that every port has one spelling.
func parsePort(s string) (uint16, error) {
	if s == "" || s[0] == '0' || strings.Trim(s, "0123456789") != "" {
		return 0, fmt.Errorf("port %q: want 1..65535", s)
	}
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil {
		return 0, fmt.Errorf("port %q: want 1..65535", s)
	}
	return uint16(n), nil
}

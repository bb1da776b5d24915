package wgpolicy

import (
	"errors"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"
)

func TestParse(t *testing.T) {
	pfx := netip.MustParsePrefix
	tests := []struct {
		in   string
		want Destination
		text string // String(); "" means in
	}{
		{"10.20.0.0/24", Destination{Prefix: pfx("10.20.0.0/24")}, ""},
		{"10.30.0.5/32:443/tcp", Destination{pfx("10.30.0.5/32"), ProtoTCP, 443, 443}, ""},
		{"10.30.0.53/32:53/udp", Destination{pfx("10.30.0.53/32"), ProtoUDP, 53, 53}, ""},
		{"10.30.0.0/24:8000-8099/udp", Destination{pfx("10.30.0.0/24"), ProtoUDP, 8000, 8099}, ""},
		{"10.30.0.0/24:443-443/tcp", Destination{pfx("10.30.0.0/24"), ProtoTCP, 443, 443}, "10.30.0.0/24:443/tcp"},
		{"10.30.0.0/24:1-65535/tcp", Destination{pfx("10.30.0.0/24"), ProtoTCP, 1, 65535}, ""},
		{"10.30.0.0/24:icmp", Destination{pfx("10.30.0.0/24"), ProtoICMP, 0, 0}, ""},
		{"0.0.0.0/0", Destination{Prefix: pfx("0.0.0.0/0")}, ""},
		{"::/0", Destination{Prefix: pfx("::/0")}, ""},
		{"fd00::/64:443/tcp", Destination{pfx("fd00::/64"), ProtoTCP, 443, 443}, ""},
		{"fd00::/64", Destination{Prefix: pfx("fd00::/64")}, ""},
		{"fd00:0::/64:icmp", Destination{pfx("fd00::/64"), ProtoICMP, 0, 0}, "fd00::/64:icmp"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := Parse([]string{tt.in})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]Destination{tt.want}, got, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
				t.Fatalf("Parse(%q) (-want +got):\n%s", tt.in, diff)
			}
			text := tt.text
			if text == "" {
				text = tt.in
			}
			if s := got[0].String(); s != text {
				t.Fatalf("String() = %q, want %q", s, text)
			}
			again, err := Parse([]string{got[0].String()})
			if err != nil || again[0] != got[0] {
				t.Fatalf("Parse(String()) = %v, %v; want %v", again, err, got[0])
			}
		})
	}
}

func TestParseMalformed(t *testing.T) {
	bad := []string{
		"",
		" 10.20.0.0/24",
		"10.20.0.0",
		"10.20.0.1/24",        // host bits
		"10.20.0.0/33",        // too long
		"10.20.0.0/024",       // leading zero in bits
		"fd00::1/64",          // host bits
		"::ffff:10.0.0.0/104", // v4-mapped
		"fe80::%eth0/64",      // zone
		"10.20.0.0/24:",       // empty ports
		"10.20.0.0/24:443",    // no protocol
		"10.20.0.0/24:443/sctp",
		"10.20.0.0/24:443/TCP",
		"10.20.0.0/24:0/tcp",
		"10.20.0.0/24:65536/tcp",
		"10.20.0.0/24:0443/tcp",
		"10.20.0.0/24:+443/tcp",
		"10.20.0.0/24:-443/tcp",
		"10.20.0.0/24:443-/tcp",
		"10.20.0.0/24:99-10/tcp", // reversed
		"10.20.0.0/24:1-2-3/tcp",
		"10.20.0.0/24:icmp/tcp",
		"10.20.0.0/24:443/icmp",
		"10.20.0.0/24:ICMP",
		"10.20.0.0/24:any",
		"10.20.0.0/24,10.30.0.0/24",
		"[fd00::]/64:443/tcp",
		"10.20.0.0/24:443/tcp ",
	}
	for _, e := range bad {
		t.Run(e, func(t *testing.T) {
			_, err := Parse([]string{"10.1.0.0/16", e})
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Parse(%q) = %v, want ErrMalformed", e, err)
			}
			if !strings.Contains(err.Error(), strconv.Quote(e)) {
				t.Fatalf("error %q does not name the entry %q", err, e)
			}
		})
	}
}

func TestParseNamesEveryMalformedEntry(t *testing.T) {
	_, err := Parse([]string{"10.0.0.0/8", "10.0.0.1/8", "10.1.0.0/16:443", "fd00::/64"})
	require.ErrorIs(t, err, ErrMalformed)
	require.Equal(t, `malformed destination "10.0.0.1/8": host bits set (the prefix is 10.0.0.0/8); `+
		`malformed destination "10.1.0.0/16:443": want icmp, port/proto or low-high/proto after ':', got "443"`, err.Error())

	many := []string{"a", "b", "c", "d", "e", "f", "g"}
	_, err = Parse(many)
	require.ErrorIs(t, err, ErrMalformed)
	require.Contains(t, err.Error(), `malformed destination "e"`)
	require.NotContains(t, err.Error(), `"f"`)
	require.True(t, strings.HasSuffix(err.Error(), "; and 2 more"), err.Error())
}

func TestParseTooMany(t *testing.T) {
	entries := make([]string, MaxDestinations+1)
	for i := range entries {
		entries[i] = "10.0.0.0/8"
	}
	if _, err := Parse(entries); !errors.Is(err, ErrTooMany) {
		t.Fatalf("Parse(%d entries) = %v, want ErrTooMany", len(entries), err)
	}
	if _, err := Parse(entries[1:]); err != nil {
		t.Fatalf("Parse(%d entries) = %v", MaxDestinations, err)
	}
}

func mustParse(t testing.TB, entries ...string) []Destination {
	t.Helper()
	ds, err := Parse(entries)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

func texts(ds []Destination) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.String()
	}
	return out
}

func TestCanonicalKeyPrefixes(t *testing.T) {
	a := mustParse(t, "fd00::/64:443/tcp", "10.30.0.5/32:443/tcp", "10.20.0.0/24", "10.30.0.5/32:443/tcp", "10.30.0.5/32:53/udp", "10.20.0.0/16", "10.30.0.5/32:icmp")
	b := mustParse(t, "10.30.0.5/32:icmp", "10.20.0.0/16", "10.30.0.5/32:53/udp", "10.20.0.0/24", "10.30.0.5/32:443/tcp", "fd00::/64:443/tcp")
	want := []string{"10.20.0.0/16", "10.20.0.0/24", "10.30.0.5/32:443/tcp", "10.30.0.5/32:53/udp", "10.30.0.5/32:icmp", "fd00::/64:443/tcp"}
	if diff := cmp.Diff(want, texts(Canonical(a))); diff != "" {
		t.Fatalf("Canonical (-want +got):\n%s", diff)
	}
	if Key(a) != Key(b) || len(Key(a)) != 64 {
		t.Fatalf("Key(a) = %q, Key(b) = %q: want equal hex SHA-256", Key(a), Key(b))
	}
	if Key(a) == Key(mustParse(t, "10.20.0.0/16")) {
		t.Fatal("different rule sets share a Key")
	}
	if Key(nil) != "" {
		t.Fatalf("Key(nil) = %q, want empty", Key(nil))
	}
	if first := texts(a)[0]; first != "fd00::/64:443/tcp" {
		t.Fatalf("Canonical modified its argument: first entry %q", first)
	}
	gotPrefixes := []string{}
	for _, p := range Prefixes(a) {
		gotPrefixes = append(gotPrefixes, p.String())
	}
	if diff := cmp.Diff([]string{"10.20.0.0/16", "10.20.0.0/24", "10.30.0.5/32", "fd00::/64"}, gotPrefixes); diff != "" {
		t.Fatalf("Prefixes (-want +got):\n%s", diff)
	}
}

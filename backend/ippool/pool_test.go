package ippool

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func prefixes(s ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, v := range s {
		out = append(out, netip.MustParsePrefix(v))
	}
	return out
}

func TestAllocateSkipsReserved(t *testing.T) {
	p, err := New(prefixes("10.77.0.0/29"), []netip.Addr{netip.MustParseAddr("10.77.0.1")})
	if err != nil {
		t.Fatal(err)
	}
	// /29 = 8 addresses, less network, broadcast and the gateway's own.
	if p.Free() != 5 {
		t.Fatalf("Free() = %d, want 5", p.Free())
	}
	var got []string
	for {
		a, err := p.Allocate()
		if errors.Is(err, ErrExhausted) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, a.String())
	}
	want := []string{"10.77.0.2", "10.77.0.3", "10.77.0.4", "10.77.0.5", "10.77.0.6"}
	if len(got) != len(want) {
		t.Fatalf("allocated %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("allocated %v, want %v", got, want)
		}
	}
	p.Release(netip.MustParseAddr("10.77.0.4"))
	a, err := p.Allocate()
	if err != nil || a.String() != "10.77.0.4" {
		t.Fatalf("after release: Allocate() = %v, %v; want 10.77.0.4", a, err)
	}
}

func TestIPv6AndMultiplePrefixes(t *testing.T) {
	p, err := New(prefixes("fd77::/64"), []netip.Addr{netip.MustParseAddr("fd77::1")})
	if err != nil {
		t.Fatal(err)
	}
	a, err := p.Allocate()
	if err != nil || a.String() != "fd77::2" {
		t.Fatalf("Allocate() = %v, %v; want fd77::2", a, err)
	}
	if p.Contains(netip.MustParseAddr("fd78::2")) {
		t.Fatal("fd78::2 is not in fd77::/64")
	}

	p, err = New(prefixes("10.0.0.0/30", "10.1.0.0/30"), nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for p.Free() > 0 {
		a, err := p.Allocate()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, a.String())
	}
	if want := "[10.0.0.1 10.0.0.2 10.1.0.1 10.1.0.2]"; want != "["+strings.Join(got, " ")+"]" {
		t.Fatalf("got %v, want %s", got, want)
	}
}

func TestNewRejects(t *testing.T) {
	if _, err := New(prefixes("10.0.0.0/24", "fd00::/64"), nil); err == nil {
		t.Fatal("mixed families accepted")
	}
	if _, err := New(prefixes("10.0.0.0/16", "10.0.1.0/24"), nil); err == nil {
		t.Fatal("overlapping prefixes accepted")
	}
}

func TestClaim(t *testing.T) {
	p, _ := New(prefixes("10.0.0.0/24"), nil)
	a := netip.MustParseAddr("10.0.0.9")
	if !p.Claim(a) {
		t.Fatal("first Claim failed")
	}
	if p.Claim(a) {
		t.Fatal("second Claim of the same address succeeded")
	}
	if p.Claim(netip.MustParseAddr("10.0.1.9")) {
		t.Fatal("Claim outside the pool succeeded")
	}
}

// BenchmarkAllocateNearlyFull measures allocation in a /16 with one free
// address left, the worst case for the bitmap scan.
func BenchmarkAllocateNearlyFull(b *testing.B) {
	p, _ := New(prefixes("10.0.0.0/16"), nil)
	for p.Free() > 1 {
		if _, err := p.Allocate(); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for b.Loop() {
		a, err := p.Allocate()
		if err != nil {
			b.Fatal(err)
		}
		p.Release(a)
	}
}

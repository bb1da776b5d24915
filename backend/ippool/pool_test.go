package ippool

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"
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
	require.NoError(t, err)
	// /29 = 8 addresses, less network, broadcast and the gateway's own.
	require.Equal(t, uint64(5), p.Free())
	var got []string
	for {
		a, err := p.Allocate()
		if errors.Is(err, ErrExhausted) {
			break
		}
		require.NoError(t, err)
		got = append(got, a.String())
	}
	require.Equal(t, []string{"10.77.0.2", "10.77.0.3", "10.77.0.4", "10.77.0.5", "10.77.0.6"}, got)
	p.Release(netip.MustParseAddr("10.77.0.4"))
	a, err := p.Allocate()
	require.NoError(t, err)
	require.Equal(t, "10.77.0.4", a.String(), "after release")
}

func TestIPv6AndMultiplePrefixes(t *testing.T) {
	p, err := New(prefixes("fd77::/64"), []netip.Addr{netip.MustParseAddr("fd77::1")})
	require.NoError(t, err)
	a, err := p.Allocate()
	require.NoError(t, err)
	require.Equal(t, "fd77::2", a.String())
	require.False(t, p.Contains(netip.MustParseAddr("fd78::2")), "fd78::2 is not in fd77::/64")

	p, err = New(prefixes("10.0.0.0/30", "10.1.0.0/30"), nil)
	require.NoError(t, err)
	var got []string
	for p.Free() > 0 {
		a, err := p.Allocate()
		require.NoError(t, err)
		got = append(got, a.String())
	}
	require.Equal(t, []string{"10.0.0.1", "10.0.0.2", "10.1.0.1", "10.1.0.2"}, got)
}

func TestNewRejects(t *testing.T) {
	_, err := New(prefixes("10.0.0.0/24", "fd00::/64"), nil)
	require.Error(t, err, "mixed families accepted")
	_, err = New(prefixes("10.0.0.0/16", "10.0.1.0/24"), nil)
	require.Error(t, err, "overlapping prefixes accepted")
}

func TestClaim(t *testing.T) {
	p, _ := New(prefixes("10.0.0.0/24"), nil)
	a := netip.MustParseAddr("10.0.0.9")
	require.True(t, p.Claim(a), "first Claim")
	require.False(t, p.Claim(a), "second Claim of the same address")
	require.False(t, p.Claim(netip.MustParseAddr("10.0.1.9")), "Claim outside the pool")
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

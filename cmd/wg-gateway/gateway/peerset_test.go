package gateway

import (
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

func key(b byte) wgtypes.Key {
	var k wgtypes.Key
	k[0] = b
	return k
}

func pfx(s ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(s))
	for i, v := range s {
		out[i] = netip.MustParsePrefix(v)
	}
	return out
}

func TestDesired(t *testing.T) {
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	set := Set{
		"a": {Serial: "a", Key: key(1), AllowedIPs: pfx("10.0.0.2/32"), NotAfter: now.Add(time.Hour)},
		"b": {Serial: "b", Key: key(2), AllowedIPs: pfx("10.0.0.3/32"), NotAfter: now.Add(-time.Second)},
		// The same key certified twice (a re-issue): both addresses.
		"c1": {Serial: "c1", Key: key(3), AllowedIPs: pfx("10.0.0.5/32"), NotAfter: now.Add(time.Hour)},
		"c2": {Serial: "c2", Key: key(3), AllowedIPs: pfx("10.0.0.4/32"), NotAfter: now.Add(2 * time.Hour)},
		// NotAfter is inclusive.
		"d": {Serial: "d", Key: key(4), AllowedIPs: pfx("10.0.0.6/32"), NotAfter: now},
	}
	want := Interface{
		key(1): pfx("10.0.0.2/32"),
		key(3): pfx("10.0.0.4/32", "10.0.0.5/32"),
		key(4): pfx("10.0.0.6/32"),
	}
	if diff := cmp.Diff(want, set.Desired(now), cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
		t.Fatalf("Desired (-want +got):\n%s", diff)
	}
}

func TestDiff(t *testing.T) {
	unmanaged := key(9)
	tests := []struct {
		name    string
		current Interface
		desired Interface
		keep    func(wgtypes.Key, []netip.Prefix) bool
		want    []wgtypes.PeerConfig
	}{
		{
			name:    "nothing to do",
			current: Interface{key(1): pfx("10.0.0.2/32")},
			desired: Interface{key(1): pfx("10.0.0.2/32")},
		},
		{
			name:    "add, remove and replace, removals first",
			current: Interface{key(1): pfx("10.0.0.2/32"), key(2): pfx("10.0.0.3/32")},
			desired: Interface{key(2): pfx("10.0.0.9/32"), key(3): pfx("10.0.0.4/32", "fd00::4/128")},
			want: []wgtypes.PeerConfig{
				{PublicKey: key(1), Remove: true},
				{PublicKey: key(2), ReplaceAllowedIPs: true, AllowedIPs: ipNets(pfx("10.0.0.9/32"))},
				{PublicKey: key(3), ReplaceAllowedIPs: true, AllowedIPs: ipNets(pfx("10.0.0.4/32", "fd00::4/128"))},
			},
		},
		{
			name:    "unmanaged peers go by default",
			current: Interface{unmanaged: pfx("192.0.2.0/24")},
			desired: Interface{},
			want:    []wgtypes.PeerConfig{{PublicKey: unmanaged, Remove: true}},
		},
		{
			name:    "unmanaged peers stay when kept",
			current: Interface{unmanaged: pfx("192.0.2.0/24"), key(1): pfx("10.0.0.2/32")},
			desired: Interface{},
			keep:    func(k wgtypes.Key, _ []netip.Prefix) bool { return k == unmanaged },
			want:    []wgtypes.PeerConfig{{PublicKey: key(1), Remove: true}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Diff(tt.current, tt.desired, tt.keep)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Fatalf("Diff (-want +got):\n%s", diff)
			}
			// Applying the diff gives the desired interface (less kept peers).
			after := Interface{}
			for k, v := range tt.current {
				after[k] = v
			}
			after.Apply(got)
			for k := range tt.desired {
				if _, ok := after[k]; !ok {
					t.Fatalf("peer %s missing after Apply", k)
				}
			}
		})
	}
}

func TestFromDeviceRoundTrip(t *testing.T) {
	in := Interface{key(1): pfx("10.0.0.2/32", "fd77::2/128")}
	var peers []wgtypes.Peer
	for k, ips := range in {
		peers = append(peers, wgtypes.Peer{PublicKey: k, AllowedIPs: ipNets(ips)})
	}
	if diff := cmp.Diff(in, FromDevice(peers), cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
		t.Fatalf("FromDevice (-want +got):\n%s", diff)
	}
}

// TestDesiredSharedAddress: two live certificates sharing an address (a
// rotation that keeps it) never both own it: the later NotBefore wins, then
// the higher serial; the older peer stays with what it does not share, and
// gets the address back when the newer one leaves.
func TestDesiredSharedAddress(t *testing.T) {
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	live := now.Add(time.Hour)
	older := Peer{Serial: "0a", Key: key(1), AllowedIPs: pfx("10.0.0.2/32", "fd00::2/128"), NotBefore: now.Add(-time.Minute), NotAfter: live}
	newer := Peer{Serial: "0b", Key: key(2), AllowedIPs: pfx("10.0.0.2/32", "fd00::2/128"), NotBefore: now.Add(-time.Minute + time.Second), NotAfter: live}
	tests := []struct {
		name string
		set  Set
		want Interface
	}{
		{
			name: "newer wins",
			set:  Set{"0a": older, "0b": newer},
			want: Interface{key(1): pfx(), key(2): pfx("10.0.0.2/32", "fd00::2/128")},
		},
		{
			name: "newer wins whatever the serials",
			set:  Set{"0a": {Serial: "ff", Key: key(1), AllowedIPs: older.AllowedIPs, NotBefore: older.NotBefore, NotAfter: live}, "0b": newer},
			want: Interface{key(1): pfx(), key(2): pfx("10.0.0.2/32", "fd00::2/128")},
		},
		{
			name: "same NotBefore: the higher serial",
			set:  Set{"0a": older, "0b": {Serial: "0b", Key: key(2), AllowedIPs: newer.AllowedIPs, NotBefore: older.NotBefore, NotAfter: live}},
			want: Interface{key(1): pfx(), key(2): pfx("10.0.0.2/32", "fd00::2/128")},
		},
		{
			name: "only the shared address moves",
			set:  Set{"0a": older, "0b": {Serial: "0b", Key: key(2), AllowedIPs: pfx("10.0.0.2/32", "fd00::9/128"), NotBefore: newer.NotBefore, NotAfter: live}},
			want: Interface{key(1): pfx("fd00::2/128"), key(2): pfx("10.0.0.2/32", "fd00::9/128")},
		},
		{
			name: "the newer one expired: the older owns it again",
			set:  Set{"0a": older, "0b": {Serial: "0b", Key: key(2), AllowedIPs: newer.AllowedIPs, NotBefore: newer.NotBefore, NotAfter: now.Add(-time.Second)}},
			want: Interface{key(1): pfx("10.0.0.2/32", "fd00::2/128")},
		},
		{
			name: "the newer one left",
			set:  Set{"0a": older},
			want: Interface{key(1): pfx("10.0.0.2/32", "fd00::2/128")},
		},
		{
			name: "same key re-issued: one peer, the address once",
			set:  Set{"0a": older, "0c": {Serial: "0c", Key: key(1), AllowedIPs: older.AllowedIPs, NotBefore: newer.NotBefore, NotAfter: live}},
			want: Interface{key(1): pfx("10.0.0.2/32", "fd00::2/128")},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.set.Desired(now)
			if diff := cmp.Diff(tc.want, got, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
				t.Fatalf("Desired (-want +got):\n%s", diff)
			}
			owners := map[netip.Prefix]int{}
			for _, ips := range got {
				for _, ip := range ips {
					owners[ip]++
				}
			}
			for ip, n := range owners {
				require.Equal(t, 1, n, "%s owned by %d peers", ip, n)
			}
			// The interface applies it: Diff from the old desired state to this one.
			applied := Interface{}.Apply(Diff(Interface{}, got, nil))
			require.Empty(t, cmp.Diff(got, applied, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })))
		})
	}
}

package gateway

import (
	"context"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/peerfeed"
)

func TestUnionPools(t *testing.T) {
	tests := []struct {
		name       string
		have, seen []string
		want       []string
	}{
		{"first", nil, []string{"10.77.0.0/24"}, []string{"10.77.0.0/24"}},
		{"the same", []string{"10.77.0.0/24"}, []string{"10.77.0.0/24"}, []string{"10.77.0.0/24"}},
		{"narrowed: kept", []string{"10.77.0.0/16"}, []string{"10.77.1.0/24"}, []string{"10.77.0.0/16"}},
		{"gone: kept", []string{"10.77.0.0/24"}, nil, []string{"10.77.0.0/24"}},
		{"a new pool", []string{"10.77.0.0/24"}, []string{"fd77::/64", "10.77.0.0/24"}, []string{"10.77.0.0/24", "fd77::/64"}},
		{"widened", []string{"10.77.0.0/24"}, []string{"10.77.0.0/16"}, []string{"10.77.0.0/16", "10.77.0.0/24"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := unionPools(pfxs(tt.have), pfxs(tt.seen))
			if !slices.Equal(got, pfxs(tt.want)) {
				t.Fatalf("unionPools = %v, want %v", got, tt.want)
			}
		})
	}
}

func pfxs(ss []string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range ss {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

// TestKeepUnmanagedPoolsArePinned: with -keep-unmanaged, a feed whose
// pools no longer cover the devices cannot turn a revoked device into an
// "unmanaged" peer that stays, before or after a restart.
func TestKeepUnmanagedPoolsArePinned(t *testing.T) {
	stateDir := t.TempDir()
	site := key(42)
	revoked := key(43)
	f := newDaemonFixture(t, true, Interface{site: pfx("192.0.2.0/24")})
	f.d.cfg.StateDir = stateDir
	a, keyA := f.entry(t, "10.77.0.2", time.Hour)
	ctx := context.Background()
	f.d.handle(ctx, &peerfeed.Response{Index: 1, Full: true, AddressPool: []string{"10.77.0.0/24"}, Peers: []peerfeed.Peer{a}})

	// A device revoked while the feed claims other pools.
	f.dev.peers[revoked] = pfx("10.77.0.50/32")
	moved := []string{"203.0.113.0/24"}
	f.d.handle(ctx, &peerfeed.Response{Index: 2, Full: true, AddressPool: moved})
	if f.dev.peers[revoked] != nil || f.dev.peers[keyA] != nil {
		t.Fatalf("device holds %v: peers in the pools first seen stayed", f.dev.peers)
	}
	if f.dev.peers[site] == nil {
		t.Fatal("the unmanaged site link was removed")
	}

	// After a restart, the first answer already claims other pools.
	g := newDaemonFixture(t, true, Interface{site: pfx("192.0.2.0/24"), revoked: pfx("10.77.0.50/32")})
	g.d.cfg.StateDir = stateDir
	if err := g.d.loadManagedPools(); err != nil {
		t.Fatal(err)
	}
	g.d.handle(ctx, &peerfeed.Response{Index: 3, Full: true, AddressPool: moved})
	if g.dev.peers[revoked] != nil || g.dev.peers[site] == nil {
		t.Fatalf("after a restart the device holds %v", g.dev.peers)
	}
}

package gateway

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

func TestPeerState(t *testing.T) {
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	s := newPeerState()
	touched := map[wgtypes.Key]bool{}
	s.put(Peer{Serial: "a1", Key: key(1), AllowedIPs: pfx("10.0.0.2/32"), NotAfter: now.Add(time.Minute)}, touched)
	s.put(Peer{Serial: "a2", Key: key(1), AllowedIPs: pfx("10.0.0.3/32"), NotAfter: now.Add(time.Hour)}, touched)
	s.put(Peer{Serial: "b", Key: key(2), AllowedIPs: pfx("10.0.0.4/32"), NotAfter: now.Add(2 * time.Minute)}, touched)
	if len(touched) != 2 {
		t.Fatalf("touched = %v", touched)
	}
	if got := s.desiredFor(key(1), now); !slices.Equal(got, pfx("10.0.0.2/32", "10.0.0.3/32")) {
		t.Fatalf("a key certified twice: %v", got)
	}

	// b is replaced by a longer certificate: its old expiry is stale.
	s.put(Peer{Serial: "b", Key: key(2), AllowedIPs: pfx("10.0.0.4/32"), NotAfter: now.Add(3 * time.Hour)}, touched)
	if next := s.nextExpiry(); !next.Equal(now.Add(time.Minute)) {
		t.Fatalf("next expiry %v", next)
	}
	touched = map[wgtypes.Key]bool{}
	expired := s.dropExpired(now.Add(5*time.Minute), touched)
	if len(expired) != 1 || expired[0].Serial != "a1" || !touched[key(1)] || touched[key(2)] {
		t.Fatalf("expired %v, touched %v", expired, touched)
	}
	if got := s.desiredFor(key(1), now.Add(5*time.Minute)); !slices.Equal(got, pfx("10.0.0.3/32")) {
		t.Fatalf("after expiry: %v", got)
	}
	if next := s.nextExpiry(); !next.Equal(now.Add(time.Hour)) {
		t.Fatalf("next expiry after the stale entry: %v", next)
	}

	touched = map[wgtypes.Key]bool{}
	s.remove("a2", touched)
	s.remove("nope", touched)
	if s.desiredFor(key(1), now) != nil || !touched[key(1)] || s.len() != 1 {
		t.Fatalf("after removal: %v, touched %v, len %d", s.desiredFor(key(1), now), touched, s.len())
	}
}

// TestPeerStateSharedAddress: applying only the keys each change touches
// (the daemon's delta path) keeps the interface equal to Set.Desired of the
// whole set, through a rotation that keeps the address, a successor that
// leaves first, and a same-key re-issue; a shared address is never owned
// by two peers.
func TestPeerStateSharedAddress(t *testing.T) {
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	live := now.Add(time.Hour)
	peer := func(serial string, k byte, nbSeconds int, ips ...string) Peer {
		return Peer{Serial: serial, Key: key(k), AllowedIPs: pfx(ips...), NotBefore: now.Add(time.Duration(nbSeconds) * time.Second), NotAfter: live}
	}
	type op struct {
		put    *Peer
		remove string
		// want is the interface after the op.
		want Interface
	}
	p := func(x Peer) *Peer { return &x }
	steps := []op{
		{put: p(peer("a", 1, 0, "10.0.0.2/32", "fd00::2/128")), want: Interface{key(1): pfx("10.0.0.2/32", "fd00::2/128")}},
		{put: p(peer("x", 9, 0, "10.0.0.9/32")), want: Interface{key(1): pfx("10.0.0.2/32", "fd00::2/128"), key(9): pfx("10.0.0.9/32")}},
		// The successor with another key takes both addresses.
		{put: p(peer("b", 2, 1, "10.0.0.2/32", "fd00::2/128")), want: Interface{key(1): pfx(), key(2): pfx("10.0.0.2/32", "fd00::2/128"), key(9): pfx("10.0.0.9/32")}},
		// The successor leaves first: the older one owns them again.
		{remove: "b", want: Interface{key(1): pfx("10.0.0.2/32", "fd00::2/128"), key(9): pfx("10.0.0.9/32")}},
		{put: p(peer("c", 3, 2, "10.0.0.2/32", "fd00::2/128")), want: Interface{key(1): pfx(), key(3): pfx("10.0.0.2/32", "fd00::2/128"), key(9): pfx("10.0.0.9/32")}},
		// The replaced one leaves, as the engine revokes it.
		{remove: "a", want: Interface{key(3): pfx("10.0.0.2/32", "fd00::2/128"), key(9): pfx("10.0.0.9/32")}},
		// The same key re-issued (Vault Agent): still one peer.
		{put: p(peer("c2", 3, 3, "10.0.0.2/32", "fd00::2/128")), want: Interface{key(3): pfx("10.0.0.2/32", "fd00::2/128"), key(9): pfx("10.0.0.9/32")}},
		{remove: "c", want: Interface{key(3): pfx("10.0.0.2/32", "fd00::2/128"), key(9): pfx("10.0.0.9/32")}},
	}
	s := newPeerState()
	applied := Interface{}
	eq := cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })
	for i, st := range steps {
		touched := map[wgtypes.Key]bool{}
		if st.put != nil {
			s.put(*st.put, touched)
		} else {
			s.remove(st.remove, touched)
		}
		for k := range touched {
			if ips := s.desiredFor(k, now); ips != nil {
				applied[k] = ips
			} else {
				delete(applied, k)
			}
		}
		if diff := cmp.Diff(st.want, applied, eq); diff != "" {
			t.Fatalf("step %d: delta path (-want +got):\n%s", i, diff)
		}
		if diff := cmp.Diff(s.bySerial.Desired(now), applied, eq); diff != "" {
			t.Fatalf("step %d: delta path differs from the full set (-full +delta):\n%s", i, diff)
		}
	}
}

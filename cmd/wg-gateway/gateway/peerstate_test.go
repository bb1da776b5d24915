package gateway

import (
	"slices"
	"testing"
	"time"

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

package gateway

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/peerfeed"
)

// removal is the feed's removal of entry p.
func removal(p peerfeed.Peer) peerfeed.Removal {
	return peerfeed.Removal{SerialNumber: p.SerialNumber, PublicKey: p.PublicKey}
}

// TestRunRemovesARevokedPeer runs the daemon against a fake Vault: the
// full set reaches the device, a revocation in the next delta takes the
// peer off it, and each poll asks for what came after the last answer.
func TestRunRemovesARevokedPeer(t *testing.T) {
	f := newDaemonFixture(t, false, Interface{})
	pools := []string{"10.77.0.0/24"}
	a, keyA := f.entry(t, "10.77.0.2", time.Hour)
	b, keyB := f.entry(t, "10.77.0.3", time.Hour)
	f.run(t)

	f.v.answer(&peerfeed.Response{Index: 1, Full: true, AddressPool: pools, Peers: []peerfeed.Peer{a, b}}, nil)
	waitDevice(t, f.dev, keyA, keyB)
	f.v.answer(&peerfeed.Response{Index: 2, AddressPool: pools, Removed: []peerfeed.Removal{removal(b)}}, nil)
	waitDevice(t, f.dev, keyA)

	f.v.waitFor(t, "a poll since index 2", func() bool { return f.v.askedFor(2, 0) })
	f.v.mu.Lock()
	defer f.v.mu.Unlock()
	if f.v.asked[0] != 0 || f.v.asked[1] != 1 || f.v.asked[2] != 2 {
		t.Fatalf("the polls asked for indexes %v, want 0 (the full set), 1, 2", f.v.asked)
	}
}

// TestRunStopsWhenCancelled: the end of Run's context stops Run and
// everything it started (the poll in flight, the reporter, the token
// keeper), during the login too.
func TestRunStopsWhenCancelled(t *testing.T) {
	t.Run("following the feed", func(t *testing.T) {
		f := newDaemonFixture(t, false, Interface{})
		a, keyA := f.entry(t, "10.77.0.2", time.Hour)
		stop := f.run(t)
		f.v.answer(&peerfeed.Response{Index: 1, Full: true, AddressPool: []string{"10.77.0.0/24"}, Peers: []peerfeed.Peer{a}}, nil)
		waitDevice(t, f.dev, keyA)
		f.v.waitFor(t, "a report, a long-poll in flight and the token keeper", func() bool {
			return len(f.v.reports) > 0 && f.v.askedFor(1, 0) && f.v.inFlight == 2
		})
		stop() // fails the test unless Run returns nil with nothing in flight
	})
	t.Run("logging in", func(t *testing.T) {
		f := newDaemonFixture(t, false, Interface{})
		f.v.blockLogin = true
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- f.d.Run(ctx) }()
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("Run cancelled during the login returned %v, want context.Canceled", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Run did not return within 10 s of its context's end")
		}
		if len(f.v.asked) != 0 {
			t.Fatalf("Run polled the feed without a login: %v", f.v.asked)
		}
	})
}

// TestReloadAsksForTheFullSet: Reload (SIGHUP) makes the daemon read the
// credentials again and cut the long-poll short for the full set, which
// then replaces what the device holds. Reload never blocks.
func TestReloadAsksForTheFullSet(t *testing.T) {
	f := newDaemonFixture(t, false, Interface{})
	pools := []string{"10.77.0.0/24"}
	a, keyA := f.entry(t, "10.77.0.2", time.Hour)
	b, keyB := f.entry(t, "10.77.0.3", time.Hour)
	f.run(t)
	f.v.answer(&peerfeed.Response{Index: 1, Full: true, AddressPool: pools, Peers: []peerfeed.Peer{a, b}}, nil)
	waitDevice(t, f.dev, keyA, keyB)
	f.v.waitFor(t, "a long-poll since index 1", func() bool { return f.v.askedFor(1, 0) })

	f.d.Reload()
	f.d.Reload()
	f.v.waitFor(t, "the credentials forgotten and a poll for the full set", func() bool {
		return f.v.forgets > 0 && f.v.askedFor(0, 2)
	})
	f.v.answer(&peerfeed.Response{Index: 1, Full: true, AddressPool: pools, Peers: []peerfeed.Peer{a}}, nil)
	waitDevice(t, f.dev, keyA)
}

// TestRunResyncsOnTheInterval: every ResyncInterval the daemon asks for
// the full set again, cutting the long-poll short.
func TestRunResyncsOnTheInterval(t *testing.T) {
	f := newDaemonFixture(t, false, Interface{})
	f.d.cfg.ResyncInterval = 20 * time.Millisecond
	a, keyA := f.entry(t, "10.77.0.2", time.Hour)
	f.run(t)
	f.v.answer(&peerfeed.Response{Index: 4, Full: true, AddressPool: []string{"10.77.0.0/24"}, Peers: []peerfeed.Peer{a}}, nil)
	waitDevice(t, f.dev, keyA)
	f.v.waitFor(t, "a poll for the full set after the first answer", func() bool {
		i := slicesIndex(f.v.asked, 4)
		return i >= 0 && f.v.askedFor(0, i+1)
	})
}

// slicesIndex is the position of the first v in s, or -1.
func slicesIndex(s []uint64, v uint64) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}

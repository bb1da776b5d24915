package gateway

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/peerfeed"
)

func TestDaemonAppliesFeed(t *testing.T) {
	unmanaged := key(42)
	stale := key(43)
	f := newDaemonFixture(t, true, Interface{
		unmanaged: pfx("192.0.2.0/24"),  // a site link, outside the pools: kept
		stale:     pfx("10.77.0.50/32"), // a device the feed no longer has: removed
	})
	a, keyA := f.entry(t, "10.77.0.2", time.Hour)
	b, keyB := f.entry(t, "10.77.0.3", 10*time.Minute)
	pools := []string{"10.77.0.0/24"}

	f.d.handle(context.Background(), &peerfeed.Response{Index: 10, Full: true, AddressPool: pools, Peers: []peerfeed.Peer{a, b}})
	if f.dev.reads != 1 {
		t.Fatalf("a full answer reads the device once, read %d times", f.dev.reads)
	}
	want := Interface{unmanaged: pfx("192.0.2.0/24"), keyA: pfx("10.77.0.2/32"), keyB: pfx("10.77.0.3/32")}
	if len(f.dev.peers) != len(want) || f.dev.peers[stale] != nil || f.dev.peers[unmanaged] == nil {
		t.Fatalf("device peers = %v, want %v", f.dev.peers, want)
	}

	// A delta removing b touches only b, without reading the device again.
	configs := len(f.dev.configs)
	f.d.handle(context.Background(), &peerfeed.Response{Index: 11, AddressPool: pools,
		Removed: []peerfeed.Removal{{SerialNumber: b.SerialNumber, PublicKey: b.PublicKey}}})
	if f.dev.reads != 1 {
		t.Fatalf("a delta re-read the device")
	}
	last := f.dev.configs[configs]
	if len(last.Peers) != 1 || last.Peers[0].PublicKey != keyB || !last.Peers[0].Remove {
		t.Fatalf("delta applied %+v, want only the removal of b", last.Peers)
	}
	if last.ReplacePeers {
		t.Fatal("ReplacePeers used")
	}

	// The expiry timer removes a on time, with no word from Vault.
	timer := time.NewTimer(time.Hour)
	f.d.schedule(timer)
	f.d.now = func() time.Time { return f.now.Add(time.Hour + time.Second) }
	f.d.apply(scopeTouched, nil)
	if _, ok := f.dev.peers[keyA]; ok {
		t.Fatal("expired peer still on the device")
	}
	if _, ok := f.dev.peers[unmanaged]; !ok {
		t.Fatal("the unmanaged peer was removed")
	}
	if f.d.index != 11 {
		t.Fatalf("index = %d", f.d.index)
	}
}

func TestDaemonCountsRejections(t *testing.T) {
	f := newDaemonFixture(t, false, Interface{})
	good, keyGood := f.entry(t, "10.77.0.2", time.Hour)
	outside, _ := f.entry(t, "10.99.0.2", time.Hour)
	f.d.handle(context.Background(), &peerfeed.Response{Index: 1, Full: true, AddressPool: []string{"10.77.0.0/24"},
		Peers: []peerfeed.Peer{good, outside}})
	if len(f.dev.peers) != 1 || f.dev.peers[keyGood] == nil {
		t.Fatalf("device peers = %v, want only the good one", f.dev.peers)
	}
	if f.d.rejected[outside.SerialNumber] != "address" {
		t.Fatalf("rejected = %v", f.d.rejected)
	}
}

func TestVerifyAllKeepsOrder(t *testing.T) {
	f := newDaemonFixture(t, false, Interface{})
	pools := []netip.Prefix{netip.MustParsePrefix("10.77.0.0/16")}
	var entries []peerfeed.Peer
	for i := range 3 * parallelFrom {
		addr := "10.77.1.1"
		if i%5 == 0 {
			addr = "10.99.0.1" // outside the pools
		}
		e, _ := f.entry(t, addr, time.Hour)
		entries = append(entries, e)
	}
	peers, rejections := f.d.verifier.VerifyAll(f.now, entries, pools)
	for i, e := range entries {
		if (i%5 == 0) != (rejections[i] != nil) {
			t.Fatalf("entry %d: rejection %v", i, rejections[i])
		}
		if rejections[i] == nil && (peers[i].Serial != e.SerialNumber || peers[i].Key.String() != e.PublicKey) {
			t.Fatalf("entry %d: peer %+v for entry %+v", i, peers[i], e)
		}
	}
}

// TestDaemonSurvivesDeviceFailure makes the device fail once while a full
// answer is applied: no certified, unexpired peer leaves because of it, not
// on the next expiry tick nor on the next delta, and the daemon retries on
// its own until the device holds the feed.
func TestDaemonSurvivesDeviceFailure(t *testing.T) {
	for _, tt := range []struct {
		name string
		fail func(*fakeDevice)
		next func(*Daemon) // what happens after the failure
	}{
		{"read fails, then the expiry tick", func(d *fakeDevice) { d.failReads = 1 }, func(d *Daemon) { d.apply(scopeTouched, nil) }},
		{"read fails, then the retry", func(d *fakeDevice) { d.failReads = 1 }, func(d *Daemon) { d.retryDevice() }},
		{"configure fails, then the expiry tick", func(d *fakeDevice) { d.failConfigures = 1 }, func(d *Daemon) { d.apply(scopeTouched, nil) }},
		{"configure fails, then the retry", func(d *fakeDevice) { d.failConfigures = 1 }, func(d *Daemon) { d.retryDevice() }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newDaemonFixture(t, false, Interface{})
			ctx := context.Background()
			pools := []string{"10.77.0.0/24"}
			a, keyA := f.entry(t, "10.77.0.2", time.Hour)
			b, keyB := f.entry(t, "10.77.0.3", time.Hour)
			c, keyC := f.entry(t, "10.77.0.4", time.Hour)
			d, keyD := f.entry(t, "10.77.0.5", time.Hour)
			onDevice := func(keys ...wgtypes.Key) {
				t.Helper()
				for _, k := range keys {
					if f.dev.peers[k] == nil {
						t.Fatalf("peer %s is not on the device: %v", k, f.dev.peers)
					}
				}
				if len(f.dev.peers) != len(keys) {
					t.Fatalf("device holds %d peers, want %d", len(f.dev.peers), len(keys))
				}
			}
			f.d.handle(ctx, &peerfeed.Response{Index: 1, Full: true, AddressPool: pools, Peers: []peerfeed.Peer{a, b}})
			onDevice(keyA, keyB)

			tt.fail(f.dev)
			f.d.handle(ctx, &peerfeed.Response{Index: 2, Full: true, AddressPool: pools, Peers: []peerfeed.Peer{a, b, c}})
			onDevice(keyA, keyB)
			if !f.d.retryPending {
				t.Fatal("no retry pending after the failure")
			}
			tt.next(f.d)
			onDevice(keyA, keyB, keyC)
			if f.d.retryPending {
				t.Fatal("a retry is still pending after the device took the changes")
			}
			f.d.handle(ctx, &peerfeed.Response{Index: 3, AddressPool: pools, Peers: []peerfeed.Peer{d}})
			onDevice(keyA, keyB, keyC, keyD)
			if f.d.index != 3 {
				t.Fatalf("index = %d", f.d.index)
			}
		})
	}
}

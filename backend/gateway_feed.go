package backend

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/ippool"
	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/peerfeed"
)

// maxFeedChanges is how many changes a feed keeps for deltas. A gateway
// further behind than that gets the full set.
const maxFeedChanges = 1 << 16

// feedCoalesce is how long a woken long-poll waits for more changes before
// it answers: a small price on one revocation's enforcement, and far fewer
// round trips when many arrive together.
const feedCoalesce = 2 * time.Millisecond

// poll takes the snapshot of the answer to a peers request, waiting up to
// wait for a change when the caller is up to date. It returns as soon as
// ctx is done.
func (r *registry) poll(ctx context.Context, gateway string, since uint64, wait time.Duration) feedSnapshot {
	var timer <-chan time.Time
	if wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		timer = t.C
	}
	for {
		r.mu.Lock()
		f := r.feed(gateway)
		snap := f.read(gateway, since)
		wake := f.wake
		r.mu.Unlock()
		if snap.resp.Full {
			snap.order = r.order(snap.plan)
			snap.records = snap.order.recs
			return snap
		}
		if snap.resp.Index != since || timer == nil {
			return snap
		}
		select {
		case <-wake:
			// A burst of changes (a mass revocation, say) goes out as one
			// delta: give it a moment to gather.
			coalesce := time.NewTimer(feedCoalesce)
			select {
			case <-coalesce.C:
			case <-ctx.Done():
			}
			coalesce.Stop()
		case <-timer:
			return snap
		case <-ctx.Done():
			return snap
		}
	}
}

// index is the gateway's current revision.
func (r *registry) index(gateway string) uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.feed(gateway).index
}

// A gatewayFeed is one gateway's live peers, address pools and change log.
// Its methods are called with the registry's lock held.
type gatewayFeed struct {
	live     map[string]*certRecord // published live certificates by serial
	reserved map[string]*certRecord // certificates being issued, not yet published

	// index is the revision: it grows by one per change.
	index uint64
	// floor is the oldest index a delta can start from.
	floor   uint64
	changes []feedChange
	// wake is closed and replaced on every change, waking long-polls.
	wake chan struct{}
	// full is the full answer at a revision, shared by its readers; a
	// change drops it.
	full *fullAnswer
	// order is the latest peer order built: the one of the current
	// revision, or the base of the next (see planOrder).
	order *peerOrder

	pools   []*ippool.Pool // one per address family in the gateway's pools
	poolKey string         // the configuration the pools were built from
}

// feedChange is one entry of the change log: a peer added (removal nil) or
// removed.
type feedChange struct {
	index   uint64
	serial  string
	removal *peerfeed.Removal
}

func newGatewayFeed(start uint64) *gatewayFeed {
	return &gatewayFeed{
		live:     make(map[string]*certRecord),
		reserved: make(map[string]*certRecord),
		index:    start,
		floor:    start,
		wake:     make(chan struct{}),
	}
}

// record appends a change for serial: an addition when removed is nil, a
// removal of removed otherwise. It bumps the revision and wakes waiters.
func (f *gatewayFeed) record(serial string, removed *certRecord) {
	f.index++
	c := feedChange{index: f.index, serial: serial}
	if removed != nil {
		c.removal = &peerfeed.Removal{SerialNumber: removed.SerialNumber, PublicKey: removed.PublicKey}
	}
	f.changes = append(f.changes, c)
	if len(f.changes) > 2*maxFeedChanges {
		drop := len(f.changes) - maxFeedChanges
		f.floor = f.changes[drop-1].index
		f.changes = slices.Clone(f.changes[drop:])
	}
	close(f.wake)
	f.wake = make(chan struct{})
	f.full = nil
}

// A feedSnapshot is a peers answer as taken under the registry's lock:
// the index, the removals and the records of the peers to send. Records
// are immutable once committed (a revocation stores a copy), so the peers
// are built from them after the lock is released: a full set of tens of
// thousands of peers never holds up an issue or a revocation.
type feedSnapshot struct {
	resp    peerfeed.Response // Peers not filled in yet
	records []*certRecord
	// plan, in a full snapshot under the lock, is how to get the peer
	// order of its revision; order is that order, once poll got it, and
	// records are then its peers (shared: never change them).
	plan  orderPlan
	order *peerOrder
}

// read takes a snapshot of the answer to a caller at index since: the
// changes since then, or the full set when since is 0, unknown or too old.
func (f *gatewayFeed) read(gateway string, since uint64) feedSnapshot {
	s := feedSnapshot{resp: peerfeed.Response{Gateway: gateway, Index: f.index, Removed: []peerfeed.Removal{}}}
	if since == 0 || since < f.floor || since > f.index {
		s.resp.Full = true
		s.plan = f.planOrder()
		return s
	}
	f.latest(since, func(c feedChange) {
		if rec, ok := f.live[c.serial]; ok {
			s.records = append(s.records, rec)
		} else if c.removal != nil {
			s.resp.Removed = append(s.resp.Removed, *c.removal)
		}
	})
	return s
}

// latest calls fn with the latest change of each serial changed after
// index since, newest first; since must be at least floor.
func (f *gatewayFeed) latest(since uint64, fn func(feedChange)) {
	// Changes are in index order; find the first after since.
	i, _ := slices.BinarySearchFunc(f.changes, since+1, func(c feedChange, idx uint64) int {
		switch {
		case c.index < idx:
			return -1
		case c.index > idx:
			return 1
		}
		return 0
	})
	seen := make(map[string]bool)
	for j := len(f.changes) - 1; j >= i; j-- { // the latest change of a serial wins
		c := f.changes[j]
		if seen[c.serial] {
			continue
		}
		seen[c.serial] = true
		fn(c)
	}
}

// answer builds the response of a delta snapshot, its certificates as DER
// when der is set (feedPeer), without the registry's lock. A full answer
// is built by encodeFull instead, straight into bytes.
func (s feedSnapshot) answer(der bool) peerfeed.Response {
	resp := s.resp
	resp.Peers = make([]peerfeed.Peer, 0, len(s.records))
	for _, rec := range s.records {
		resp.Peers = append(resp.Peers, feedPeer(rec, der))
	}
	return resp
}

// allocate returns host prefixes for a new peer, one address from each
// family's pool, rebuilding the pools first when gw's configuration changed.
// From a pool holding one of keep (a predecessor's addresses, held by it:
// held says whether a live certificate holds an address), that address is
// taken again, shared; from the others a free one.
func (f *gatewayFeed) allocate(gw *gatewayEntry, keep []netip.Addr, held func(netip.Addr) bool) ([]string, error) {
	if err := f.ensurePools(gw); err != nil {
		return nil, err
	}
	if len(f.pools) == 0 {
		return nil, fmt.Errorf("gateway %s has no address_pool", gw.Name)
	}
	got := make([]netip.Addr, len(f.pools))
	fresh := make([]bool, len(f.pools))
	for i, p := range f.pools {
		if k := slices.IndexFunc(keep, func(a netip.Addr) bool { return p.Contains(a) && held(a) }); k >= 0 {
			got[i] = keep[k]
			continue
		}
		a, err := p.Allocate()
		if err != nil {
			for j := range i {
				if fresh[j] {
					f.pools[j].Release(got[j])
				}
			}
			return nil, err
		}
		got[i], fresh[i] = a, true
	}
	out := make([]string, len(got))
	for i, a := range got {
		out[i] = netip.PrefixFrom(a, a.BitLen()).String()
	}
	return out, nil
}

// release returns to the pools the addresses of rec, which left, that no
// live certificate holds any more (held): a re-issue shares its
// predecessor's, and an address returns only when its last holder leaves.
func (f *gatewayFeed) release(rec *certRecord, held func(netip.Addr) bool) {
	for _, a := range rec.addrs() {
		if held(a) {
			continue
		}
		for _, p := range f.pools {
			p.Release(a)
		}
	}
}

// ensurePools builds the pools from gw when they were built from another
// configuration, and marks the addresses of live certificates in use.
func (f *gatewayFeed) ensurePools(gw *gatewayEntry) error {
	key := strings.Join(gw.AddressPool, ",") + "|" + strings.Join(gw.Address, ",")
	if f.pools != nil && key == f.poolKey {
		return nil
	}
	pools, err := gw.newPools()
	if err != nil {
		return err
	}
	for _, set := range []map[string]*certRecord{f.live, f.reserved} {
		for _, rec := range set {
			for _, a := range rec.addrs() {
				for _, p := range pools {
					p.Claim(a)
				}
			}
		}
	}
	f.pools, f.poolKey = pools, key
	return nil
}

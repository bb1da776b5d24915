package gateway

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/peerfeed"
)

// page is a page of a full read at index with peers and next.
func page(index uint64, next string, peers ...peerfeed.Peer) *peerfeed.Response {
	return &peerfeed.Response{Index: index, Full: true, AddressPool: []string{"10.77.0.0/24"}, Peers: peers, Next: next}
}

// checkPages runs a sequence of pages through a pager as readPages does
// and returns the first error.
func checkPages(limit int, pages ...*peerfeed.Response) error {
	pg := &pager{limit: limit}
	for _, p := range pages {
		for _, e := range p.Peers {
			if err := pg.entry(p, e.SerialNumber); err != nil {
				return err
			}
		}
		if _, err := pg.end(p); err != nil {
			return err
		}
	}
	return nil
}

func serials(ss ...string) []peerfeed.Peer {
	out := make([]peerfeed.Peer, len(ss))
	for i, s := range ss {
		out[i] = peerfeed.Peer{SerialNumber: s}
	}
	return out
}

// TestPagerRefuses: the pages of a full read that an attacker between
// Vault and the gateway could send, or a broken engine, are refused; what
// the engine sends is not.
func TestPagerRefuses(t *testing.T) {
	for _, tt := range []struct {
		name  string
		pages []*peerfeed.Response
		ok    bool
	}{
		{"pages in order", []*peerfeed.Response{page(5, "02", serials("01", "02")...), page(6, "", serials("03")...)}, true},
		{"the whole set in one page, more than the limit, no next (an engine that does not page)", []*peerfeed.Response{page(5, "", serials("01", "02", "03")...)}, true},
		{"an empty set", []*peerfeed.Response{page(5, "")}, true},
		{"a next beyond the page's last serial", []*peerfeed.Response{page(5, "05", serials("01", "02")...), page(5, "", serials("06")...)}, true},
		{"a page repeating a serial", []*peerfeed.Response{page(5, "02", serials("01", "02")...), page(5, "", serials("02", "03")...)}, false},
		{"a serial twice in a page", []*peerfeed.Response{page(5, "", serials("01", "01")...)}, false},
		{"serials out of order", []*peerfeed.Response{page(5, "", serials("02", "01")...)}, false},
		{"a page going back", []*peerfeed.Response{page(5, "02", serials("01", "02")...), page(5, "", serials("00")...)}, false},
		{"a next going back", []*peerfeed.Response{page(5, "01", serials("01", "02")...)}, false},
		{"a page before its next", []*peerfeed.Response{page(5, "05", serials("01", "02")...), page(5, "", serials("04")...)}, false},
		{"a page of more than the limit with a next", []*peerfeed.Response{page(5, "04", serials("01", "02", "03", "04")...)}, false},
		{"an empty page with a next", []*peerfeed.Response{page(5, "02", serials("01", "02")...), page(5, "03")}, false},
		{"a page that is not full", []*peerfeed.Response{page(5, "02", serials("01", "02")...), {Index: 5, Peers: serials("03")}}, false},
		{"a page older than the first", []*peerfeed.Response{page(5, "02", serials("01", "02")...), page(4, "", serials("03")...)}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := checkPages(3, tt.pages...)
			if tt.ok && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !tt.ok && !errors.Is(err, ErrBadFeed) {
				t.Fatalf("error %v, want ErrBadFeed", err)
			}
		})
	}
}

// TestPagerEndsAnEndlessRead: pages that never end, each in order, are
// refused after maxFullPeers entries.
func TestPagerEndsAnEndlessRead(t *testing.T) {
	pg := &pager{limit: pageLimit}
	head := page(1, "")
	for i := range maxFullPeers + 1 {
		err := pg.entry(head, fmt.Sprintf("%08x", i))
		if i < maxFullPeers && err != nil {
			t.Fatalf("entry %d refused: %v", i, err)
		}
		if i == maxFullPeers && !errors.Is(err, ErrBadFeed) {
			t.Fatalf("entry %d: error %v, want ErrBadFeed", i, err)
		}
		if (i+1)%pageLimit == 0 {
			head.Next = fmt.Sprintf("%08x", i)
			if _, err := pg.end(head); err != nil {
				t.Fatalf("page end after entry %d: %v", i, err)
			}
		}
	}
}

// sortedEntries returns n entries of the fixture at 10.77.0.2… in serial
// order, with their keys.
func (f *daemonFixture) sortedEntries(t *testing.T, n int) ([]peerfeed.Peer, []wgtypes.Key) {
	t.Helper()
	type entry struct {
		p peerfeed.Peer
		k wgtypes.Key
	}
	var es []entry
	for i := range n {
		p, k := f.entry(t, fmt.Sprintf("10.77.0.%d", 2+i), time.Hour)
		es = append(es, entry{p, k})
	}
	slices.SortFunc(es, func(a, b entry) int { return strings.Compare(a.p.SerialNumber, b.p.SerialNumber) })
	peers, keys := make([]peerfeed.Peer, n), make([]wgtypes.Key, n)
	for i, e := range es {
		peers[i], keys[i] = e.p, e.k
	}
	return peers, keys
}

// TestFullReadInPages: the daemon reads the full set page by page (limit,
// small for the first page, then after = the last page's next), each page's peers reach the device
// before the next page is read, a peer the set does not list leaves only
// once the last page is in, and the changes are then asked for since the
// first page's index (not the last page's).
func TestFullReadInPages(t *testing.T) {
	stale := key(43)
	f := newDaemonFixture(t, false, Interface{stale: pfx("10.77.0.50/32")})
	e, k := f.sortedEntries(t, 5)
	f.v.answerAsIs(page(5, e[1].SerialNumber, e[0], e[1]), nil)
	f.run(t)
	waitDevice(t, f.dev, stale, k[0], k[1])
	f.v.waitFor(t, "the second page asked for", func() bool { return len(f.v.queries) == 2 })
	f.v.answerAsIs(page(6, e[3].SerialNumber, e[2], e[3]), nil)
	waitDevice(t, f.dev, stale, k[0], k[1], k[2], k[3])
	f.v.waitFor(t, "the third page asked for", func() bool { return len(f.v.queries) == 3 })
	f.v.answerAsIs(page(7, "", e[4]), nil)
	waitDevice(t, f.dev, k...)
	f.v.waitFor(t, "the changes since the first page's index asked for", func() bool { return len(f.v.queries) == 4 })

	f.v.mu.Lock()
	defer f.v.mu.Unlock()
	want := []FeedQuery{{Limit: firstPage}, {Limit: pageLimit, After: e[1].SerialNumber}, {Limit: pageLimit, After: e[3].SerialNumber},
		{Index: 5, Wait: f.d.cfg.PollWait, Limit: pageLimit}}
	if !slices.Equal(f.v.queries, want) {
		t.Fatalf("queries %+v, want %+v", f.v.queries, want)
	}
}

// TestFullReadRefusedRemovesNothing: a full read whose pages break the
// protocol, or whose page fails, is refused as a whole: no peer leaves
// the device because of it (certified peers stay, those of its first page
// were added), and the daemon reads the full set again from its first
// page, which then decides.
func TestFullReadRefusedRemovesNothing(t *testing.T) {
	for _, tt := range []struct {
		name string
		// second is the second page, after a first holding e[2] with
		// next e[2]; e[0] < e[1] < e[2] < e[3] by serial.
		second func(e []peerfeed.Peer) *peerfeed.Response
		err    error
	}{
		{"a page repeating a serial", func(e []peerfeed.Peer) *peerfeed.Response { return page(9, "", e[2], e[3]) }, nil},
		{"a page going back", func(e []peerfeed.Peer) *peerfeed.Response { return page(9, "", e[1]) }, nil},
		{"a next going back", func(e []peerfeed.Peer) *peerfeed.Response { return page(9, e[0].SerialNumber, e[3]) }, nil},
		{"a page of more than the limit with a next", func(e []peerfeed.Peer) *peerfeed.Response {
			var many []peerfeed.Peer
			for i := range pageLimit + 1 {
				many = append(many, peerfeed.Peer{SerialNumber: e[3].SerialNumber + fmt.Sprintf("%05d", i)})
			}
			return page(9, many[len(many)-1].SerialNumber, many...)
		}, nil},
		{"an empty page with a next", func(e []peerfeed.Peer) *peerfeed.Response { return page(9, e[3].SerialNumber) }, nil},
		{"a page that is not full", func(e []peerfeed.Peer) *peerfeed.Response {
			return &peerfeed.Response{Index: 9, AddressPool: []string{"10.77.0.0/24"}, Peers: []peerfeed.Peer{e[3]}}
		}, nil},
		{"a page older than the first", func(e []peerfeed.Peer) *peerfeed.Response { return page(8, "", e[3]) }, nil},
		{"Vault failing", func([]peerfeed.Peer) *peerfeed.Response { return nil }, errVault},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f, e, k := runWithTwoPeers(t)

			asked := len(f.v.asked)
			f.d.requestFull()
			f.v.answerAsIs(page(9, e[2].SerialNumber, e[2]), nil)
			f.v.answerAsIs(tt.second(e), tt.err)
			// The refused read removed nothing: e[0] and e[1], which it
			// did not list, are still there, with e[2] of its first page
			// (and e[3] when it came before the refusal).
			f.v.waitFor(t, "the full read again from its first page", func() bool {
				return len(f.v.queries) > asked+2 && f.v.queries[len(f.v.queries)-1] == FeedQuery{Limit: firstPage}
			})
			f.dev.mu.Lock()
			for _, key := range k[:3] {
				if f.dev.peers[key] == nil {
					t.Errorf("after the refused read the device holds %v, without %s: want the two peers of before and the first page's", f.dev.peers, key)
				}
			}
			f.dev.mu.Unlock()
			f.v.answerAsIs(page(10, "", e[3]), nil)
			waitDevice(t, f.dev, k[3])
			if tt.err == nil && vaultErrors(t, f.d, "peers") != 1 {
				t.Errorf("wg_gateway_vault_errors_total{op=peers} = %v, want 1", vaultErrors(t, f.d, "peers"))
			}
		})
	}
}

// runWithTwoPeers runs a daemon whose first full read held the first two
// of four entries in serial order (index 1), until it long-polls.
func runWithTwoPeers(t *testing.T) (*daemonFixture, []peerfeed.Peer, []wgtypes.Key) {
	t.Helper()
	f := newDaemonFixture(t, false, Interface{})
	e, k := f.sortedEntries(t, 4)
	f.v.answerAsIs(page(1, "", e[0], e[1]), nil)
	f.run(t)
	waitDevice(t, f.dev, k[0], k[1])
	f.v.waitFor(t, "a long-poll since index 1", func() bool { return f.v.askedFor(1, 0) })
	return f, e, k
}

// TestDeltaAnsweredWithTheFullSet: when the engine answers a long-poll
// with the full set (the daemon is too far behind), that answer is the
// first page of a full read, which the daemon follows to its end.
func TestDeltaAnsweredWithTheFullSet(t *testing.T) {
	f, e, k := runWithTwoPeers(t)
	f.v.answerAsIs(page(20, e[2].SerialNumber, e[2]), nil)
	f.v.waitFor(t, "the next page asked for", func() bool {
		return f.v.queries[len(f.v.queries)-1] == FeedQuery{Limit: pageLimit, After: e[2].SerialNumber}
	})
	f.v.answerAsIs(page(21, "", e[3]), nil)
	waitDevice(t, f.dev, k[2], k[3])
	f.v.waitFor(t, "a long-poll since index 20", func() bool { return f.v.askedFor(20, 0) })
}

package gateway

import (
	"fmt"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/peerfeed"
)

// firstPage and pageLimit are how many peers the daemon asks for in the
// first page of the full set and in the others: a small first page puts
// the first peers on the interface early, large ones after it cost Vault
// few requests (the engine serves at most peerfeed.MaxPage).
const (
	firstPage = 500
	pageLimit = peerfeed.MaxPage
)

// maxFullPeers is the most entries a full read (all its pages) or a delta
// may hold: far more than a gateway's pools of a /16 and its re-issues,
// and a bound on what a feed that never ends (or an attacker between
// Vault and the gateway replaying certificates) can make the daemon do.
const maxFullPeers = 1 << 20

// A pager checks the pages of one full read as they arrive, entry by
// entry, so that a feed that breaks the paging protocol is refused before
// it costs more than a page: every page is full and none is older than
// the first (index), the serials increase strictly across the read
// (no page repeats or goes back), a page that names a next holds between
// one and limit peers and its next does not go back, and the read holds
// at most maxFullPeers entries. Serials compare as strings, the engine's
// order.
//
// An engine that does not page sends the whole set as one page without a
// next, whatever the limit: that page is the read.
type pager struct {
	// limit is what the current page was asked for.
	limit int
	// index is the first page's index: the revision the read starts
	// from, and after the last page the index to ask changes since.
	index uint64
	// pools are the first page's address pools.
	pools []string
	// after is the serial the next page starts after (the last page's
	// next); empty for the first.
	after  string
	last   string // the last serial of the read so far
	pages  int    // pages whose head was checked
	count  int    // entries of the read so far
	inPage int    // entries of the current page so far
	headed bool   // the current page's head was checked
}

// head checks a page's fields other than its peers.
func (p *pager) head(h *peerfeed.Response) error {
	if p.headed {
		return nil
	}
	p.headed = true
	if !h.Full {
		return fmt.Errorf("%w: page %d of a full read is not the full set", ErrBadFeed, p.pages+1)
	}
	if p.pages == 0 {
		p.index, p.pools = h.Index, h.AddressPool
	} else if h.Index < p.index {
		return fmt.Errorf("%w: page %d is at index %d, before the read's first page (%d)", ErrBadFeed, p.pages+1, h.Index, p.index)
	}
	p.pages++
	return nil
}

// entry checks the next entry of the current page, whose head is h.
func (p *pager) entry(h *peerfeed.Response, serial string) error {
	if err := p.head(h); err != nil {
		return err
	}
	if serial <= p.last || serial <= p.after {
		return fmt.Errorf("%w: serial %q of page %d does not come after %q: pages out of order or repeated", ErrBadFeed, serial, p.pages, max(p.last, p.after))
	}
	if p.count >= maxFullPeers {
		return fmt.Errorf("%w: more than %d peers in one full read", ErrBadFeed, maxFullPeers)
	}
	p.last = serial
	p.count++
	p.inPage++
	return nil
}

// end checks a page once it is read whole (resp: its fields; its peers
// went through entry) and reports whether it was the last.
func (p *pager) end(resp *peerfeed.Response) (last bool, err error) {
	if err := p.head(resp); err != nil {
		return false, err
	}
	n := p.inPage
	p.inPage, p.headed = 0, false
	if resp.Next == "" {
		return true, nil
	}
	switch {
	case n == 0:
		return false, fmt.Errorf("%w: page %d names a next page but holds no peer", ErrBadFeed, p.pages)
	case n > p.limit:
		return false, fmt.Errorf("%w: page %d holds %d peers, more than the %d asked for", ErrBadFeed, p.pages, n, p.limit)
	case resp.Next < p.last:
		return false, fmt.Errorf("%w: page %d's next %q goes back before its last serial %q", ErrBadFeed, p.pages, resp.Next, p.last)
	}
	p.after = resp.Next
	return false, nil
}

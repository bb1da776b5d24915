package gateway

import (
	"context"
	"errors"
	"net/netip"
	"runtime/debug"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/peerfeed"
)

// A full read of the feed: poll reads the pages (readFull) and hands
// their entries to Run in batches as they are decoded; Run verifies them
// on every CPU and applies them while the next are read and verified
// (handleFull). Nothing holds the whole set's certificates: only the
// verified peers' small state stays.

// verifyBatch is how many entries go to a verifier at a time.
const verifyBatch = 128

// readAhead is how many batches the reader may be ahead of the
// verifiers: what bounds the certificates held at once.
const readAhead = 16

// applyMost is how many verified entries at most one apply takes: as
// many as are ready, so that the interface gets few large configurations
// while it is the slower side, and the first peers early.
const applyMost = 4096

// A fullRead is a read of the full set under way, as poll hands it to
// Run. The entries come on batches as the pages are decoded; index, pools
// and err are set before batches is closed.
type fullRead struct {
	batches chan entryBatch
	// index is the first page's index: the revision of the set.
	index uint64
	// pools are the first page's address pools.
	pools []string
	// err is why the read ended before its last page; nil when it is
	// complete.
	err error
}

// An entryBatch is at most verifyBatch entries of one page, with the
// page's address pools and signature, and the position of its first
// entry in the page.
type entryBatch struct {
	entries []peerfeed.Peer
	pools   []netip.Prefix
	signed  *signedAnswer
	first   int
}

// readFull reads the full set page by page (first, when not nil, is its
// first page, read already with its peers) and hands the entries to Run
// in a fullRead as they come. It returns the first page's index, from
// which the changes are read next; 0 when the read failed.
func (d *Daemon) readFull(ctx context.Context, out chan<- pollResult, first *peerfeed.Response) (uint64, error) {
	fr := &fullRead{batches: make(chan entryBatch, readAhead)}
	select {
	case out <- pollResult{full: fr}:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	pg := &pager{}
	err := d.readPages(ctx, fr, pg, first)
	fr.index, fr.pools, fr.err = pg.index, pg.pools, err
	close(fr.batches)
	if err != nil {
		return 0, err
	}
	return pg.index, nil
}

// readPages reads the pages of a full read, checked by pg, into
// fr.batches.
func (d *Daemon) readPages(ctx context.Context, fr *fullRead, pg *pager, first *peerfeed.Response) error {
	var batch entryBatch
	var pools []netip.Prefix // the current page's
	var signed *signedAnswer // the current page's
	send := func() error {
		if len(batch.entries) == 0 {
			return nil
		}
		select {
		case fr.batches <- batch:
		case <-ctx.Done():
			return ctx.Err()
		}
		batch = entryBatch{}
		return nil
	}
	each := func(head *peerfeed.Response, p peerfeed.Peer) error {
		if !pg.headed {
			pools = parsePools(head.AddressPool)
			signed = newSignedAnswer(head.Signature, d.signatureRefused)
		}
		if err := pg.entry(head, p.SerialNumber); err != nil {
			return err
		}
		if batch.entries == nil {
			batch = entryBatch{entries: make([]peerfeed.Peer, 0, verifyBatch), pools: pools,
				signed: signed, first: pg.inPage - 1}
		}
		batch.entries = append(batch.entries, p)
		if len(batch.entries) == verifyBatch {
			return send()
		}
		return nil
	}
	// endPage ends a page: a batch never spans two (its pools are its
	// page's).
	endPage := func(resp *peerfeed.Response) (bool, error) {
		if err := send(); err != nil {
			return false, err
		}
		return pg.end(resp)
	}
	last := false
	if first != nil {
		pg.limit = pageLimit // as readChanges asks
		for _, p := range first.Peers {
			if err := each(first, p); err != nil {
				return err
			}
		}
		first.Peers = nil
		var err error
		if last, err = endPage(first); err != nil {
			return err
		}
	}
	for !last {
		pg.limit = pageLimit
		if pg.pages == 0 {
			pg.limit = firstPage
		}
		qctx, cancel := context.WithTimeout(ctx, pollSlack)
		resp, err := d.vault.Peers(qctx, FeedQuery{Limit: pg.limit, After: pg.after}, each)
		cancel()
		if err != nil {
			return err
		}
		if last, err = endPage(resp); err != nil {
			return err
		}
	}
	return nil
}

// wholeRead is the fullRead of a full answer already read whole; refused
// is told if its signature is no trusted CA's (newSignedAnswer).
func wholeRead(resp *peerfeed.Response, refused func(*peerfeed.Signature)) *fullRead {
	pools := parsePools(resp.AddressPool)
	signed := newSignedAnswer(resp.Signature, refused)
	fr := &fullRead{batches: make(chan entryBatch, len(resp.Peers)/verifyBatch+1), index: resp.Index, pools: resp.AddressPool}
	for i := 0; i < len(resp.Peers); i += verifyBatch {
		fr.batches <- entryBatch{entries: resp.Peers[i:min(i+verifyBatch, len(resp.Peers))], pools: pools, signed: signed, first: i}
	}
	close(fr.batches)
	return fr
}

// handleFull brings the peer state and the interface to a full read as
// its pages come, and reports whether the interface is up to date with
// it. The interface is read once, first. Verified entries join the peer
// state and reach the interface a few thousand at a time while the next
// are read and verified. Peers of the state the read does not list leave
// only once its last page is in; a read that fails before removes
// nothing (the next full read completes it), and a device error only
// leaves the interface behind the state, which the retry repairs.
func (d *Daemon) handleFull(ctx context.Context, fr *fullRead) bool {
	start := d.now()
	if d.cfg.CAFile == "" {
		d.refreshCA(ctx) // while the first page is on its way
	}
	d.rejected = make(map[string]string)
	// Mid-read the state mixes two revisions: no index to report.
	d.reading = true
	defer func() { d.reading = false }()
	ok := d.readDevice()
	seen := make(map[string]struct{})
	entries := 0
	verified := d.verifier.verifyStream(start, fr.batches)
	for vb := range verified {
		touched := make(map[wgtypes.Key]bool)
		for n := 0; ; {
			d.admit(vb.entries, vb.peers, vb.rejections, touched)
			for i, e := range vb.entries {
				if vb.rejections[i] == nil {
					seen[e.SerialNumber] = struct{}{}
				}
			}
			n += len(vb.entries)
			entries += len(vb.entries)
			var more bool
			if vb, more = takeReady(verified, n); !more {
				break
			}
		}
		ok = ok && d.apply(scopeTouched, touched)
	}
	if fr.err != nil {
		if !errors.Is(fr.err, context.Canceled) {
			d.metrics.vaultErrors.WithLabelValues("peers").Inc()
		}
		d.logger.Warn("the full read stopped before its last page; the peers it did not list stay until a full read completes",
			"verified", entries, "error", fr.err)
		return false
	}
	unlisted := make(map[wgtypes.Key]bool)
	for serial := range d.peers.bySerial {
		if _, ok := seen[serial]; !ok {
			d.peers.remove(serial, unlisted)
		}
	}
	d.index = fr.index
	d.pools = parsePools(fr.pools)
	if d.cfg.KeepUnmanaged {
		d.pinPools(d.pools)
	}
	d.removalUnreported = true // a full set may remove anything
	d.reading = false
	ok = ok && d.apply(scopeFullRead, unlisted)
	if entries >= largeAnswer {
		// What the read decoded is garbage now: give the memory back
		// to the system instead of keeping the peak as resident.
		debug.FreeOSMemory()
	}
	return ok
}

// takeReady returns the next verified batch when one is ready at once
// and an apply holding n entries may take more.
func takeReady(verified <-chan verifiedBatch, n int) (verifiedBatch, bool) {
	if n >= applyMost {
		return verifiedBatch{}, false
	}
	select {
	case vb, open := <-verified:
		return vb, open
	default:
		return verifiedBatch{}, false
	}
}

// largeAnswer is the size of a full read after which the daemon returns
// freed memory to the system at once.
const largeAnswer = 10000

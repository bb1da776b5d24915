package gateway

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/peerfeed"
)

// pollResult is one answer of the feed, a full read under way, or the
// error reading a delta.
type pollResult struct {
	resp *peerfeed.Response
	full *fullRead
	err  error
}

// pollSlack is how much longer than the long-poll's wait a feed read may
// take before it is given up; a page of a full read gets as long.
const pollSlack = 30 * time.Second

// poll follows the feed and hands what it reads to Run: a full read (at
// the start, when asked for, or when the engine answers a delta with the
// full set) page by page as a fullRead, then the changes since the index
// of its first page, long-polled. After an error it hands the error over
// too (a full read's in the fullRead) and backs off before reading again:
// the same delta, or the full set again from its first page.
func (d *Daemon) poll(ctx context.Context, out chan<- pollResult) {
	var index uint64
	b := newBackoff()
	for ctx.Err() == nil {
		d.pollMu.Lock()
		if d.wantFull {
			index, d.wantFull = 0, false
		}
		rctx, cancel := context.WithCancel(ctx)
		d.cancelPoll = cancel
		d.pollMu.Unlock()

		next, delta, err := d.readOnce(rctx, out, index)
		// Read before cancel, which cancels rctx whatever happened.
		cutShort := errors.Is(rctx.Err(), context.Canceled)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			index = next
			if cutShort {
				continue // by requestFull
			}
			d.logger.Warn("reading the peer feed failed", "error", err)
			if delta {
				select {
				case out <- pollResult{err: err}:
				case <-ctx.Done():
					return
				}
			}
			b.Sleep(ctx)
			continue
		}
		b.Reset()
		index = next
	}
}

// readOnce makes one read of the feed from index: a full read when index
// is 0 or the engine answers with the full set, a delta otherwise, handed
// to Run. It returns the index to read from next (0 after a full read
// that failed) and, on error, whether it was a delta's (a full read's
// error reaches Run in the fullRead).
func (d *Daemon) readOnce(ctx context.Context, out chan<- pollResult, index uint64) (next uint64, delta bool, err error) {
	if index == 0 {
		next, err = d.readFull(ctx, out, nil)
		return next, false, err
	}
	resp, err := d.readChanges(ctx, index)
	switch {
	case err != nil:
		return index, true, err
	case resp.Full:
		// The engine no longer has the changes since index: this is
		// the first page of a full read.
		next, err = d.readFull(ctx, out, resp)
		return next, false, err
	case resp.Index == index && len(resp.Peers) == 0 && len(resp.Removed) == 0:
		return index, true, nil // the wait ran out with nothing new
	}
	select {
	case out <- pollResult{resp: resp}:
	case <-ctx.Done():
		return index, true, ctx.Err()
	}
	return resp.Index, true, nil
}

// readChanges long-polls the changes since index. The answer's peers are
// kept (at most maxFullPeers): a delta is applied as one.
func (d *Daemon) readChanges(ctx context.Context, index uint64) (*peerfeed.Response, error) {
	qctx, cancel := context.WithTimeout(ctx, d.cfg.PollWait+pollSlack)
	defer cancel()
	var peers []peerfeed.Peer
	resp, err := d.vault.Peers(qctx, FeedQuery{Index: index, Wait: d.cfg.PollWait, Limit: pageLimit},
		func(_ *peerfeed.Response, p peerfeed.Peer) error {
			if len(peers) >= maxFullPeers {
				return fmt.Errorf("%w: more than %d peers in one answer", ErrBadFeed, maxFullPeers)
			}
			peers = append(peers, p)
			return nil
		})
	if err != nil {
		return nil, err
	}
	resp.Peers = peers
	return resp, nil
}

// requestFull makes the next poll ask for the full set and re-read the
// interface, cutting short a read in progress (a full read too: it starts
// again from its first page).
func (d *Daemon) requestFull() {
	d.pollMu.Lock()
	defer d.pollMu.Unlock()
	d.wantFull = true
	if d.cancelPoll != nil {
		d.cancelPoll()
	}
}

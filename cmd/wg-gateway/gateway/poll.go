package gateway

import (
	"context"
	"errors"
	"time"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/peerfeed"
)

// pollResult is one answer of the feed, or the error reading it.
type pollResult struct {
	resp *peerfeed.Response
	err  error
}

// pollSlack is how much longer than the long-poll's wait a feed read may
// take before it is given up.
const pollSlack = 30 * time.Second

// poll long-polls the feed and hands each answer to Run. After an error
// it hands the error over too and backs off before the next read.
func (d *Daemon) poll(ctx context.Context, out chan<- pollResult) {
	var index uint64
	b := newBackoff()
	for ctx.Err() == nil {
		d.pollMu.Lock()
		if d.wantFull {
			index, d.wantFull = 0, false
		}
		pctx, cancel := context.WithTimeout(ctx, d.cfg.PollWait+pollSlack)
		d.cancelPoll = cancel
		d.pollMu.Unlock()

		resp, err := d.vault.Peers(pctx, index, d.cfg.PollWait)
		// Read before cancel, which cancels pctx whatever happened.
		cutShort := errors.Is(pctx.Err(), context.Canceled)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if cutShort {
				continue // by requestFull
			}
			d.logger.Warn("reading the peer feed failed", "error", err)
			select {
			case out <- pollResult{err: err}:
			case <-ctx.Done():
				return
			}
			b.Sleep(ctx)
			continue
		}
		b.Reset()
		if resp.Index == index && !resp.Full && len(resp.Peers) == 0 && len(resp.Removed) == 0 {
			continue // the wait ran out with nothing new
		}
		select {
		case out <- pollResult{resp: resp}:
		case <-ctx.Done():
			return
		}
		index = resp.Index
	}
}

// requestFull makes the next poll ask for the full set and re-read the
// interface, cutting short a long-poll in progress.
func (d *Daemon) requestFull() {
	d.pollMu.Lock()
	defer d.pollMu.Unlock()
	d.wantFull = true
	if d.cancelPoll != nil {
		d.cancelPoll()
	}
}

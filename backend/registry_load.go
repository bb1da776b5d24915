package backend

import (
	"context"
	"fmt"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/vault/sdk/logical"
	"golang.org/x/sync/errgroup"
)

// startLoad begins loading from s in the background, unless a load is done
// or under way.
func (r *registry) startLoad(s logical.Storage, logger hclog.Logger) <-chan struct{} {
	r.loadMu.Lock()
	defer r.loadMu.Unlock()
	if r.loaded != nil {
		return r.loaded
	}
	done := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	r.loaded, r.cancel = done, cancel
	go func() {
		defer cancel()
		err := r.load(ctx, s)
		if err != nil && logger != nil {
			logger.Error("loading certificate records failed; will retry on the next request", "error", err)
		}
		r.loadMu.Lock()
		r.loadErr = err
		if err != nil {
			r.loaded = nil // the next wait starts over
		}
		r.loadMu.Unlock()
		close(done)
	}()
	return done
}

// wait blocks until the registry is loaded, starting the load if needed.
func (r *registry) wait(ctx context.Context, s logical.Storage) error {
	done := r.startLoad(s, nil)
	select {
	case <-done:
	case <-ctx.Done():
		return ctx.Err()
	}
	r.loadMu.Lock()
	defer r.loadMu.Unlock()
	return r.loadErr
}

// reset forgets everything; the next wait loads again from storage.
func (r *registry) reset() {
	r.loadMu.Lock()
	if r.cancel != nil {
		r.cancel()
	}
	r.loaded, r.cancel = nil, nil
	r.loadMu.Unlock()
}

// stop cancels a load in progress.
func (r *registry) stop() {
	r.loadMu.Lock()
	defer r.loadMu.Unlock()
	if r.cancel != nil {
		r.cancel()
	}
}

// loadWorkers is how many records are read from storage at once.
const loadWorkers = 16

// load reads every certificate record and every block into a fresh registry state.
func (r *registry) load(ctx context.Context, s logical.Storage) error {
	serials, err := s.List(ctx, certStoragePrefix)
	if err != nil {
		return fmt.Errorf("list certificates: %w", err)
	}
	records := make([]*certRecord, len(serials))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(loadWorkers)
	for i, serial := range serials {
		g.Go(func() error {
			var rec certRecord
			ok, err := getJSON(gctx, s, certStoragePrefix+serial, &rec)
			if ok {
				records[i] = &rec
			}
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	blocks, err := loadBlocks(ctx, s)
	if err != nil {
		return err
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	r.clear()
	for _, rec := range records {
		if rec == nil {
			continue
		}
		if rec.revoked() {
			r.addDead(rec)
			continue
		}
		r.addLive(rec, false)
	}
	// A replacement loaded before the certificate it replaces marks it now.
	for _, lc := range r.live {
		if old, ok := r.live[lc.rec.Replaces]; ok {
			old.replacedBy = lc.rec.SerialNumber
		}
	}
	for _, b := range blocks {
		r.blocks.put(b)
	}
	return nil
}

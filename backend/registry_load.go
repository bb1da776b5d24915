package backend

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

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
	r.gen.Add(1)
	ctx, cancel := context.WithCancel(context.Background())
	r.loaded, r.cancel = done, cancel
	release := func() {}
	if r.loadHold != nil {
		release = r.loadHold()
	}
	go func() {
		defer cancel()
		err := r.load(ctx, s)
		release()
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

// load reads every certificate record, with the revocations of the journal
// not yet written into them, and every block into a fresh registry state.
// It lists the loose records, reads the packs, then the loose records that
// no authoritative pack covers (see certPack): a pack fold writes a pack
// and leaves the loose entries it holds, so a record the fold packs
// meanwhile is read in one place or the other. The workers read and decode
// records while one goroutine indexes those already read, holding mu from
// the first record to the last: a mount's start costs the storage reads,
// with the indexing beside them instead of after. Nothing else reads the
// state before the load is done (every reader waits for it); a load that
// fails leaves it empty.
func (r *registry) load(ctx context.Context, s logical.Storage) error {
	serials, err := s.List(ctx, certStoragePrefix)
	if err != nil {
		return fmt.Errorf("list certificates: %w", err)
	}
	blocks, err := loadBlocks(ctx, s)
	if err != nil {
		return err
	}
	journal, err := loadJournal(ctx, s)
	if err != nil {
		return err
	}
	recs := make(chan loadedRecord, 4*loadWorkers)
	indexed := make(chan struct{})
	go func() {
		defer close(indexed)
		r.indexRecords(len(serials), recs, journal, blocks)
	}()
	covered, err := r.readPacks(ctx, s, recs)
	if err == nil {
		err = readLoose(ctx, s, uncovered(serials, covered), recs)
	}
	close(recs)
	<-indexed
	if err != nil {
		r.mu.Lock()
		r.clear()
		r.mu.Unlock()
	}
	return err
}

// A loadedRecord is a record a load read, the pack it came from (""
// for a loose entry), and whether that pack is authoritative.
type loadedRecord struct {
	rec           *certRecord
	pack          string
	authoritative bool
}

// readLoose reads the loose records of serials into recs, loadWorkers at
// once; an entry deleted since the list is skipped.
func readLoose(ctx context.Context, s logical.Storage, serials []string, recs chan<- loadedRecord) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(loadWorkers)
	for _, serial := range serials {
		g.Go(func() error {
			rec, err := getRecord(gctx, s, serial)
			if err != nil || rec == nil {
				return err
			}
			select {
			case recs <- loadedRecord{rec: rec}:
				return nil
			case <-gctx.Done():
				return gctx.Err()
			}
		})
	}
	return g.Wait()
}

// readPacks reads every pack's records into recs, loadWorkers packs at
// once, and returns the serials the authoritative ones hold, whose loose
// entries are not newer; a pack deleted since the list (emptied by tidy) is
// skipped.
func (r *registry) readPacks(ctx context.Context, s logical.Storage, recs chan<- loadedRecord) (map[string]struct{}, error) {
	r.packMu.Lock()
	ids, err := s.List(ctx, certPackStoragePrefix)
	r.packMu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("list certificate packs: %w", err)
	}
	var mu sync.Mutex
	covered := make(map[string]struct{})
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(loadWorkers)
	for _, id := range ids {
		g.Go(func() error {
			p, err := getPack(gctx, s, id)
			if err != nil || p == nil {
				return err
			}
			if p.Authoritative {
				mu.Lock()
				for _, rec := range p.Records {
					covered[rec.SerialNumber] = struct{}{}
				}
				mu.Unlock()
			}
			for _, rec := range p.Records {
				select {
				case recs <- loadedRecord{rec: rec, pack: id, authoritative: p.Authoritative}:
				case <-gctx.Done():
					return gctx.Err()
				}
			}
			return nil
		})
	}
	return covered, g.Wait()
}

// uncovered is serials without those covered.
func uncovered(serials []string, covered map[string]struct{}) []string {
	return slices.DeleteFunc(serials, func(s string) bool {
		_, ok := covered[s]
		return ok
	})
}

// indexRecords builds the registry's state from the n records (about) that
// recs brings, each with its revocation in journal if it has one there, then
// the blocks; it holds mu throughout. Of two copies of one serial, the
// revoked one wins, else the first (they say the same). A record read
// loose joins the loose set, the next pack fold's work.
func (r *registry) indexRecords(n int, recs <-chan loadedRecord, journal map[string]journaledRevocation, blocks []*blockEntry) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.clear()
	r.live = make(map[string]*liveCert, n)
	shared := make(stringPool)
	for l := range recs {
		rec := l.rec
		if l.pack != "" {
			id := shared.intern(l.pack)
			r.packs[rec.SerialNumber] = id
			if l.authoritative {
				r.authoritative[id] = struct{}{}
			}
		} else {
			r.loose[rec.SerialNumber] = struct{}{}
		}
		if j, ok := journal[rec.SerialNumber]; ok && !rec.revoked() {
			j.applyTo(rec)
		}
		if !r.takesLoaded(rec) {
			continue
		}
		shared.internRecord(rec)
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
	for identity, l := range r.byIdentity {
		r.byIdentity[identity] = oldestFirst(l.compacted())
	}
	for _, b := range blocks {
		r.blocks.put(b)
	}
}

// takesLoaded reports whether a load indexes rec, given the copy of its
// serial it indexed already, if any: a revoked copy beats a live one (a
// certificate's state only moves from live to revoked), and among two of
// the same state the first stays. A live copy it replaces is dropped here;
// the caller holds mu, and the load has built no pools yet.
func (r *registry) takesLoaded(rec *certRecord) bool {
	if _, ok := r.dead[rec.SerialNumber]; ok {
		return false
	}
	lc, ok := r.live[rec.SerialNumber]
	if !ok {
		return true
	}
	if !rec.revoked() {
		return false
	}
	r.removeLive(lc.rec)
	r.indexed.remove(rec.SerialNumber, indexValues(lc.rec))
	return true
}

// oldestFirst sorts an identity's live certificates by issue time, as
// byIdentity keeps them (max_active_per_identity evicts from the front):
// records arrive in the order storage lists them, by serial, and reads
// finish. A record keeps its issue time to the second: within one second
// the order is by serial. The caller holds mu; l has no holes.
func oldestFirst(l identityCerts) identityCerts {
	slices.SortFunc(l.certs, func(a, b *liveCert) int {
		if c := a.rec.IssuedAt.Compare(b.rec.IssuedAt); c != 0 {
			return c
		}
		return strings.Compare(a.rec.SerialNumber, b.rec.SerialNumber)
	})
	l.renumber()
	return l
}

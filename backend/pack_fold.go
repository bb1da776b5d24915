package backend

import (
	"context"
	"errors"
	"fmt"

	"github.com/hashicorp/vault/sdk/helper/locksutil"
	"github.com/hashicorp/vault/sdk/logical"
	"golang.org/x/sync/errgroup"
)

const (
	// packFoldMost is the most records one pack fold packs: a fold of a
	// mount written before packs (every record loose) goes in steps,
	// each one holding tidyMu for some seconds, not minutes.
	packFoldMost = 20000
	// packFoldAfter is how many records committed since the last fold
	// start one in the background: a mount issuing thousands a minute
	// does not wait for the periodic function to pack them.
	packFoldAfter = 4096
	// packDeleteWorkers is how many loose entries a fold deletes at once.
	packDeleteWorkers = 8
)

// errPackFoldStale is returned by a pack fold that gave up because the
// registry began loading again since it started.
var errPackFoldStale = errors.New("the registry was reloaded during the pack fold")

// packCandidates sorts the serials that have a loose entry (as listed) into
// the committed live records that no pack holds, at most most of them, and
// the serials of live records a pack holds already (left loose by a fold
// cut short): their loose entries only wait to be deleted. Revoked ones,
// and ones the registry does not know or still issues, stay loose.
func (r *registry) packCandidates(loose []string, most int) (toPack []*certRecord, packed []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, serial := range loose {
		lc, ok := r.live[serial]
		if !ok || lc.pending {
			continue
		}
		if _, ok := r.packs[serial]; ok {
			packed = append(packed, serial)
		} else if len(toPack) < most {
			toPack = append(toPack, lc.rec)
		}
	}
	return toPack, packed
}

// packOf is the pack holding a copy of serial's record, or "".
func (r *registry) packOf(serial string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.packs[serial]
}

// byPack sorts the packed ones of serials by the pack holding them.
func (r *registry) byPack(serials []string) map[string][]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string][]string)
	for _, s := range serials {
		if id, ok := r.packs[s]; ok {
			out[id] = append(out[id], s)
		}
	}
	return out
}

// notePack records that the pack id holds serials, unless a load began
// since gen; it reports whether it did.
func (r *registry) notePack(gen uint64, id string, serials []string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.gen.Load() != gen {
		return false
	}
	for _, s := range serials {
		r.packs[s] = id
	}
	return true
}

// packedLive reports whether serial's certificate is live, committed and
// packed, with no load begun since gen: its loose entry is then a copy of
// its packed one. The caller holds the serial's lock, which a revocation
// holds across its write and markRevoked.
func (r *registry) packedLive(gen uint64, serial string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.gen.Load() != gen {
		return false
	}
	lc, ok := r.live[serial]
	_, packed := r.packs[serial]
	return ok && !lc.pending && packed
}

// foldPacks packs committed live records that are only loose into new packs
// (at most packFoldMost), then deletes the loose entry of each packed live
// record whose certificate was not revoked since: a revocation's record,
// written loose, is newer than the packed copy and stays. It returns how
// many records it packed. A fold cut short leaves loose copies of packed
// records, which the next one deletes without packing them again. The
// caller holds tidyMu.
func (b *backend) foldPacks(ctx context.Context, s logical.Storage) (int, error) {
	if err := b.reg.wait(ctx, s); err != nil {
		return 0, err
	}
	gen := b.reg.gen.Load()
	b.reg.unpacked.Store(0)
	loose, err := s.List(ctx, certStoragePrefix)
	if err != nil {
		return 0, fmt.Errorf("list certificates: %w", err)
	}
	toPack, drop := b.reg.packCandidates(loose, packFoldMost)
	packs, err := encodePacks(toPack, packBudget)
	if err != nil {
		return 0, err
	}
	packed := 0
	for _, p := range packs {
		id := journalID(b.now())
		if err := b.writePack(ctx, s, gen, id, p.value); err != nil {
			return packed, err
		}
		if !b.reg.notePack(gen, id, p.serials) {
			return packed, errPackFoldStale
		}
		packed += len(p.serials)
		drop = append(drop, p.serials...)
	}
	return packed, b.dropPacked(ctx, s, gen, drop)
}

// writePack writes a new pack's entry, unless a load began since gen: a
// load lists the packs under packMu too, so it either sees this one or
// began before the check.
func (b *backend) writePack(ctx context.Context, s logical.Storage, gen uint64, id string, value []byte) error {
	b.reg.packMu.Lock()
	defer b.reg.packMu.Unlock()
	if b.reg.gen.Load() != gen {
		return errPackFoldStale
	}
	if err := s.Put(ctx, &logical.StorageEntry{Key: certPackStoragePrefix + id, Value: value}); err != nil {
		return fmt.Errorf("write %s: %w", certPackStoragePrefix+id, err)
	}
	return nil
}

// dropPacked deletes the loose entries of serials, each under its lock and
// only while its certificate is live and packed (packedLive).
func (b *backend) dropPacked(ctx context.Context, s logical.Storage, gen uint64, serials []string) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(packDeleteWorkers)
	for _, serial := range serials {
		g.Go(func() error {
			lock := locksutil.LockForKey(b.locks, serial)
			lock.Lock()
			defer lock.Unlock()
			if !b.reg.packedLive(gen, serial) {
				return nil
			}
			return deleteKey(gctx, s, certStoragePrefix+serial)
		})
	}
	return g.Wait()
}

// foldPacksLogged is foldPacks, logging what it packed. The caller holds
// tidyMu.
func (b *backend) foldPacksLogged(ctx context.Context, s logical.Storage) (int, error) {
	n, err := b.foldPacks(ctx, s)
	if n > 0 {
		b.Logger().Debug("packed certificate records", "count", n)
	}
	return n, err
}

// maybeFoldPacks starts a pack fold in the background once b.packAfter
// records were committed since the last one began, unless one runs. It
// folds again while a fold packed as many as it may (a mount written
// before packs); errors are logged, and the periodic function retries.
func (b *backend) maybeFoldPacks(s logical.Storage) {
	if b.reg.unpacked.Load() < b.packAfter || !b.WriteSafeReplicationState() {
		return
	}
	if !b.packing.CompareAndSwap(false, true) {
		return
	}
	b.reg.unpacked.Store(0)
	go func() {
		defer b.packing.Store(false)
		for range packFoldMost { // bounded: each round packs records or stops
			b.tidyMu.Lock()
			n, err := b.foldPacksLogged(b.background, s)
			b.tidyMu.Unlock()
			if err != nil {
				if b.background.Err() == nil {
					b.Logger().Warn("packing certificate records failed; will retry", "error", err)
				}
				return
			}
			if n < packFoldMost {
				return
			}
		}
	}()
}

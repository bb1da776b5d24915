package backend

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

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
	// packDeleteWorkers is how many loose entries a fold deletes at once:
	// those of records in packs that are not authoritative (written by a
	// version that deleted them), whose packs now say as much.
	packDeleteWorkers = 32
)

// errPackFoldStale is returned by a pack fold that gave up because the
// registry began loading again since it started.
var errPackFoldStale = errors.New("the registry was reloaded during the pack fold")

// packWork is what a pack fold does with the records of the registry's
// loose set.
type packWork struct {
	// live are committed live records no pack holds: to pack, from memory.
	live []*certRecord
	// revoked are the serials of revoked certificates no pack holds: to
	// pack, read from their loose entries, revoked.
	revoked []string
	// revocations are those of revoked certificates a pack that is not
	// authoritative holds, by pack: to write into the pack.
	revocations map[string][]journaledRevocation
	// packedLive and packedRevoked are the serials of certificates a pack
	// that is not authoritative holds, with a loose entry that may be
	// newer: their loose entries only wait to be deleted once the pack
	// says what they say.
	packedLive, packedRevoked []string
}

// takeForPacking sorts the serials of the registry's loose set into a
// pack fold's work, taking at most most records to pack (see
// registry.taken). It takes each under the serial's lock, which a
// revocation holds from its choice between a loose write and the journal
// until the registry knows it revoked: a record is taken either revoked,
// or live with any later revocation bound for the journal.
func (b *backend) takeForPacking(most int) packWork {
	w := packWork{revocations: make(map[string][]journaledRevocation)}
	for _, serial := range b.reg.looseSerials() {
		lock := locksutil.LockForKey(b.locks, serial)
		lock.Lock()
		b.reg.sortLoose(&w, serial, most)
		lock.Unlock()
	}
	return w
}

// looseSerials are the serials of the loose set.
func (r *registry) looseSerials() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, 0, len(r.loose))
	for serial := range r.loose {
		out = append(out, serial)
	}
	return out
}

// sortLoose adds serial, of the loose set, to the fold's work w; one to
// pack is taken, unless w has most records to pack already. One the
// registry no longer knows leaves the set.
func (r *registry) sortLoose(w *packWork, serial string, most int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	pack, packed := r.packs[serial]
	room := len(w.live)+len(w.revoked) < most
	if lc, ok := r.live[serial]; ok {
		switch {
		case lc.pending:
		case packed:
			w.packedLive = append(w.packedLive, serial)
		case room:
			w.live = append(w.live, lc.rec)
			r.taken[serial] = struct{}{}
		}
		return
	}
	d, ok := r.dead[serial]
	switch {
	case !ok:
		delete(r.loose, serial)
	case packed:
		w.revocations[pack] = append(w.revocations[pack], journaled(d.rec))
		w.packedRevoked = append(w.packedRevoked, serial)
	case room:
		w.revoked = append(w.revoked, serial)
		r.taken[serial] = struct{}{}
	}
}

// packedOrTaken reports whether a pack holds serial's record or a pack
// fold is packing it: its revocation goes to the journal.
func (r *registry) packedOrTaken(serial string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, packed := r.packs[serial]
	_, taken := r.taken[serial]
	return packed || taken
}

// releaseTaken ends a pack fold's hold on the records it took.
func (r *registry) releaseTaken() {
	r.mu.Lock()
	defer r.mu.Unlock()
	clear(r.taken)
}

// settled takes serial out of the loose set: the fold deleted its loose
// entry, which a pack now covers.
func (r *registry) settled(serial string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.loose, serial)
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

// forgetPack forgets that the pack p holds its records (unpackAll deleted
// it, once they were written loose).
func (r *registry) forgetPack(p *certPack) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rec := range p.Records {
		delete(r.packs, rec.SerialNumber)
	}
}

// notePack records that the pack id holds serials, which leave the loose
// set, unless a load began since gen; it reports whether it did.
func (r *registry) notePack(gen uint64, id string, serials []string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.gen.Load() != gen {
		return false
	}
	r.authoritative[id] = struct{}{}
	for _, s := range serials {
		r.packs[s] = id
		delete(r.loose, s)
	}
	return true
}

// packedCurrent reports whether serial's certificate is packed, committed,
// and live or revoked, with no load begun since gen. The caller holds the
// serial's lock, which a revocation holds across its write and
// markRevoked, and the fold wrote any revocation into the pack before:
// its loose entry then says nothing the pack does not.
func (r *registry) packedCurrent(gen uint64, serial string, live bool) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.gen.Load() != gen {
		return false
	}
	if _, packed := r.packs[serial]; !packed {
		return false
	}
	if lc, ok := r.live[serial]; ok {
		return live && !lc.pending
	}
	_, dead := r.dead[serial]
	return dead && !live
}

// foldPacks writes the records of the loose set into packs: the committed
// live records and the revoked ones that no pack holds (at most
// packFoldMost), from memory or their loose entries, into authoritative
// packs, whose records' loose entries stay until tidy deletes them (see
// certPack). It returns how many records it packed. A pack not
// authoritative, written before, gets the revocations of its records
// written loose since, and their loose entries are deleted once it says
// what they say, as they were then. It does nothing once tidy unpacked
// the records for a downgrade (packingOff). The caller holds tidyMu.
func (b *backend) foldPacks(ctx context.Context, s logical.Storage) (int, error) {
	if b.packingOff.Load() {
		return 0, nil
	}
	if err := b.reg.wait(ctx, s); err != nil {
		return 0, err
	}
	gen := b.reg.gen.Load()
	b.reg.unpacked.Store(0)
	w := b.takeForPacking(packFoldMost)
	defer b.reg.releaseTaken()
	for pack, js := range w.revocations {
		if _, err := foldIntoPack(ctx, s, pack, js); err != nil {
			return 0, err
		}
	}
	revoked, err := b.revokedRecords(ctx, s, w.revoked)
	if err != nil {
		return 0, err
	}
	packed := 0
	err = eachPack(append(w.live, revoked...), packBudget, func(p encodedPack) error {
		id := journalID(b.now())
		if err := b.writePack(ctx, s, gen, id, p.value); err != nil {
			return err
		}
		if !b.reg.notePack(gen, id, p.serials) {
			return errPackFoldStale
		}
		packed += len(p.serials)
		return nil
	})
	if err != nil {
		return packed, err
	}
	if err := b.dropPacked(ctx, s, gen, w.packedLive, true); err != nil {
		return packed, err
	}
	return packed, b.dropPacked(ctx, s, gen, w.packedRevoked, false)
}

// revokedRecords are the records of revoked certificates: those of
// revocations this process journaled and has not folded (unfolded), else
// read from their loose entries, each with its revocation as the registry
// knows it (a journaled one is not in the stored record yet). One the
// registry does not know revoked, or with no loose entry, is left out.
func (b *backend) revokedRecords(ctx context.Context, s logical.Storage, serials []string) ([]*certRecord, error) {
	var out []*certRecord
	for _, serial := range serials {
		rec := b.unfolded.get(serial)
		if rec == nil {
			var err error
			if rec, err = getRecord(ctx, s, serial); err != nil {
				return nil, err
			}
		}
		j, ok := b.reg.revocation(serial)
		if rec == nil || !ok {
			continue
		}
		if !rec.revoked() {
			j.applyTo(rec)
		}
		out = append(out, rec)
	}
	return out, nil
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

// dropPacked deletes the loose entries of serials, held by packs that are
// not authoritative, each only while its pack says what its loose entry
// does: the certificates are packed, and still live or (when not live)
// revoked, their revocation written into the pack. One revoked since keeps
// its loose entry, for the next fold.
func (b *backend) dropPacked(ctx context.Context, s logical.Storage, gen uint64, serials []string, live bool) error {
	_, err := b.deleteLoose(ctx, s, serials, func(serial string) bool {
		return b.reg.packedCurrent(gen, serial, live)
	})
	return err
}

// deleteLoose deletes the loose entries of serials for which covered,
// asked under the serial's lock (which a revocation holds across its
// write), says a pack holds all they say; each leaves the loose set. It
// returns how many it deleted, packDeleteWorkers at once.
func (b *backend) deleteLoose(ctx context.Context, s logical.Storage, serials []string, covered func(serial string) bool) (int, error) {
	var deleted atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(packDeleteWorkers)
	for _, serial := range serials {
		g.Go(func() error {
			lock := locksutil.LockForKey(b.locks, serial)
			lock.Lock()
			defer lock.Unlock()
			if !covered(serial) {
				return nil
			}
			if err := deleteKey(gctx, s, certStoragePrefix+serial); err != nil {
				return err
			}
			b.reg.settled(serial)
			deleted.Add(1)
			return nil
		})
	}
	err := g.Wait()
	return int(deleted.Load()), err
}

// foldPacksLogged is foldPacks, logging what it packed and how long it
// took. The caller holds tidyMu.
func (b *backend) foldPacksLogged(ctx context.Context, s logical.Storage) (int, error) {
	start := time.Now()
	n, err := b.foldPacks(ctx, s)
	if n > 0 {
		b.Logger().Debug("packed certificate records", "count", n, "took", time.Since(start))
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

// inAuthoritativePack reports whether an authoritative pack holds serial's
// record: its loose entry, if any, says nothing the pack does not.
func (r *registry) inAuthoritativePack(serial string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	id, ok := r.packs[serial]
	if !ok {
		return false
	}
	_, ok = r.authoritative[id]
	return ok
}

// shedLoose deletes the loose entries of records that authoritative packs
// hold, and returns how many: the pack fold leaves them, so that issues do
// not pay a delete per packed record while it runs, and tidy (hourly, or
// when asked) takes them. None is written again once packed (see
// certPack), so a delete loses nothing. The caller holds tidyMu.
func (b *backend) shedLoose(ctx context.Context, s logical.Storage) (int, error) {
	serials, err := s.List(ctx, certStoragePrefix)
	if err != nil {
		return 0, fmt.Errorf("list certificates: %w", err)
	}
	return b.deleteLoose(ctx, s, serials, b.reg.inAuthoritativePack)
}

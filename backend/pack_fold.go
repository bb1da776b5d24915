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
	// Each delete waits for its round trip into Vault and, on raft, for
	// its commit: with 8 a fold kept up with a third of 32 clients'
	// issues (bench P9 left 41,897 of 200,000 records loose).
	packDeleteWorkers = 32
)

// errPackFoldStale is returned by a pack fold that gave up because the
// registry began loading again since it started.
var errPackFoldStale = errors.New("the registry was reloaded during the pack fold")

// packWork is what a pack fold does with the loose entries it listed.
type packWork struct {
	// live are committed live records no pack holds: to pack, from memory.
	live []*certRecord
	// revoked are the serials of revoked certificates no pack holds: to
	// pack, read from their loose entries, revoked.
	revoked []string
	// revocations are those of revoked certificates a pack holds, by pack:
	// to write into the pack.
	revocations map[string][]journaledRevocation
	// packedLive and packedRevoked are the serials of certificates a pack
	// holds (left loose by a fold cut short, or revoked since it): their
	// loose entries only wait to be deleted once the pack says what they
	// say.
	packedLive, packedRevoked []string
}

// packCandidates sorts the serials that have a loose entry (as listed), at
// most most of those to pack. Ones the registry does not know, or still
// issues, stay loose.
func (r *registry) packCandidates(loose []string, most int) packWork {
	r.mu.Lock()
	defer r.mu.Unlock()
	w := packWork{revocations: make(map[string][]journaledRevocation)}
	for _, serial := range loose {
		pack, packed := r.packs[serial]
		if lc, ok := r.live[serial]; ok {
			switch {
			case lc.pending:
			case packed:
				w.packedLive = append(w.packedLive, serial)
			case len(w.live)+len(w.revoked) < most:
				w.live = append(w.live, lc.rec)
			}
			continue
		}
		d, ok := r.dead[serial]
		switch {
		case !ok:
		case packed:
			w.revocations[pack] = append(w.revocations[pack], journaled(d.rec))
			w.packedRevoked = append(w.packedRevoked, serial)
		case len(w.live)+len(w.revoked) < most:
			w.revoked = append(w.revoked, serial)
		}
	}
	return w
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

// foldPacks moves loose records into packs: it packs the committed live
// records and the revoked ones that no pack holds (at most packFoldMost),
// writes the revocations of packed records revoked since into their packs,
// then deletes each loose entry the packs now say as much as: a live
// certificate's whose certificate was not revoked meanwhile (a
// revocation's record, written loose, is newer and stays), a revoked one's.
// It returns how many records it packed. A fold cut short leaves loose
// copies of packed records, which the next one deletes without packing
// them again. It does nothing once tidy unpacked the records for a
// downgrade (packingOff). The caller holds tidyMu.
func (b *backend) foldPacks(ctx context.Context, s logical.Storage) (int, error) {
	if b.packingOff.Load() {
		return 0, nil
	}
	if err := b.reg.wait(ctx, s); err != nil {
		return 0, err
	}
	gen := b.reg.gen.Load()
	b.reg.unpacked.Store(0)
	loose, err := s.List(ctx, certStoragePrefix)
	if err != nil {
		return 0, fmt.Errorf("list certificates: %w", err)
	}
	w := b.reg.packCandidates(loose, packFoldMost)
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
	live := w.packedLive
	for _, rec := range w.live {
		live = append(live, rec.SerialNumber)
	}
	if err := b.dropPacked(ctx, s, gen, live, true); err != nil {
		return packed, err
	}
	return packed, b.dropPacked(ctx, s, gen, append(w.packedRevoked, w.revoked...), false)
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

// dropPacked deletes the loose entries of serials, each under its lock and
// only while its pack says what its loose entry does: the certificates are
// packed, and still live or (when not live) revoked, their revocation
// written into the pack. One revoked since the fold packed it live keeps
// its loose entry.
func (b *backend) dropPacked(ctx context.Context, s logical.Storage, gen uint64, serials []string, live bool) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(packDeleteWorkers)
	for _, serial := range serials {
		g.Go(func() error {
			lock := locksutil.LockForKey(b.locks, serial)
			lock.Lock()
			defer lock.Unlock()
			if !b.reg.packedCurrent(gen, serial, live) {
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

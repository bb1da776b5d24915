package backend

import (
	"context"
	"crypto/rand"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/vault/sdk/helper/locksutil"
	"github.com/hashicorp/vault/sdk/logical"
	"golang.org/x/sync/errgroup"
)

// A revocationJournalEntry is the revocations one storage write persisted
// together (see revocationBatcher), at revocationStoragePrefix + id. The
// records of its certificates still read live in storage: the entry is what
// says they are revoked, until it is folded into them and deleted: by the
// periodic function (about a minute later, on the active node) or by tidy.
// A mount's load applies the entries to the records it reads, and reads
// them before the records: a fold writes the records before it deletes the
// entry, so a load concurrent with a fold sees every revocation.
type revocationJournalEntry struct {
	Revocations []journaledRevocation `json:"revocations"`
}

// A journaledRevocation is what a revocation changes in a certificate's
// record; the json names are the record's.
type journaledRevocation struct {
	SerialNumber      string    `json:"serial_number"`
	RevokedAt         time.Time `json:"revoked_at"`
	RevokedBy         string    `json:"revoked_by,omitempty"`
	RevokedByEntityID string    `json:"revoked_by_entity_id,omitempty"`
	Block             string    `json:"block,omitempty"`
	ReplacedBy        string    `json:"replaced_by,omitempty"`
}

// journaled is the revocation of rec, a record written revoked.
func journaled(rec *certRecord) journaledRevocation {
	return journaledRevocation{
		SerialNumber: rec.SerialNumber, RevokedAt: rec.RevokedAt,
		RevokedBy: rec.RevokedBy, RevokedByEntityID: rec.RevokedByEntityID,
		Block: rec.Block, ReplacedBy: rec.ReplacedBy,
	}
}

// applyTo writes the revocation into rec, the record of its certificate.
func (j journaledRevocation) applyTo(rec *certRecord) {
	rec.RevokedAt = j.RevokedAt
	rec.RevokedBy, rec.RevokedByEntityID, rec.Block = j.RevokedBy, j.RevokedByEntityID, j.Block
	rec.ReplacedBy = j.ReplacedBy
}

// writeRevocations persists records written revoked with one storage
// write: a single one as its record, unless a pack fold took it (see
// certPack), several or a taken one as one journal entry. The caller
// holds the lock of each serial. Nothing is written when it fails.
func (b *backend) writeRevocations(ctx context.Context, s logical.Storage, revoked []*certRecord) error {
	if len(revoked) == 1 && !b.reg.packedOrTaken(revoked[0].SerialNumber) {
		return putJSON(ctx, s, certStoragePrefix+revoked[0].SerialNumber, revoked[0])
	}
	entry := revocationJournalEntry{Revocations: make([]journaledRevocation, len(revoked))}
	for i, rec := range revoked {
		entry.Revocations[i] = journaled(rec)
	}
	if err := putJSON(ctx, s, revocationStoragePrefix+journalID(b.now()), &entry); err != nil {
		return err
	}
	b.unfolded.add(revoked)
	return nil
}

// unfoldedRecords are the records, written revoked, of the revocations
// this process journaled and has not folded yet: the fold writes them as
// they are, without reading each back first (a round trip into Vault that
// cost more than the write). A fold after a restart reads them. Records
// leave it when folded or tidied; it holds what the registry held of them
// as live certificates, until the next fold.
type unfoldedRecords struct {
	mu   sync.Mutex
	recs map[string]*certRecord
}

func (u *unfoldedRecords) add(recs []*certRecord) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.recs == nil {
		u.recs = make(map[string]*certRecord)
	}
	for _, rec := range recs {
		u.recs[rec.SerialNumber] = rec
	}
}

// get is the record of serial, or nil.
func (u *unfoldedRecords) get(serial string) *certRecord {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.recs[serial]
}

func (u *unfoldedRecords) drop(serial string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	delete(u.recs, serial)
}

// journalID names a journal entry or a pack written at now: its time, for
// a reader of the storage, and random text, so that no two entries share a
// name.
func journalID(now time.Time) string {
	return now.UTC().Format("20060102T150405.000000000Z") + "-" + rand.Text()[:10]
}

// eachJournalEntry calls f with each journal entry in storage, by id, in
// the order storage lists them; an entry deleted since the list (folded
// meanwhile: its records say it) is skipped. It stops at f's first error.
func eachJournalEntry(ctx context.Context, s logical.Storage, f func(id string, entry *revocationJournalEntry) error) error {
	ids, err := s.List(ctx, revocationStoragePrefix)
	if err != nil {
		return fmt.Errorf("list revocations: %w", err)
	}
	for _, id := range ids {
		var entry revocationJournalEntry
		found, err := getJSON(ctx, s, revocationStoragePrefix+id, &entry)
		if err != nil {
			return err
		}
		if !found {
			continue
		}
		if err := f(id, &entry); err != nil {
			return err
		}
	}
	return nil
}

// loadJournal reads every journal entry: the revocations by serial.
func loadJournal(ctx context.Context, s logical.Storage) (map[string]journaledRevocation, error) {
	out := make(map[string]journaledRevocation)
	err := eachJournalEntry(ctx, s, func(_ string, entry *revocationJournalEntry) error {
		for _, j := range entry.Revocations {
			out[j.SerialNumber] = j
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// foldJournal writes the revocations of every journal entry into their
// records and then deletes the entry, and returns how many records it
// wrote. A record tidy deleted stays deleted; one already revoked is left
// as it is. The revocations of packed records are written into their
// packs, each pack once, after every entry was read (a mass revocation
// costs a write per pack, not one per certificate); the entries holding
// them are deleted after that. A loose copy such a record may still have
// is older: a load takes the revoked copy. An entry stays until all
// its records are written, so a fold cut short is taken up again by the
// next. The caller holds tidyMu.
func (b *backend) foldJournal(ctx context.Context, s logical.Storage) (int, error) {
	if err := b.reg.wait(ctx, s); err != nil {
		return 0, fmt.Errorf("load certificates: %w", err)
	}
	var written atomic.Int64
	var mu sync.Mutex
	inPacks := make(map[string][]journaledRevocation) // by pack
	var waiting []string                              // entries with some of them
	err := eachJournalEntry(ctx, s, func(id string, entry *revocationJournalEntry) error {
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(foldWorkers)
		packed := false
		for _, j := range entry.Revocations {
			g.Go(func() error {
				w, pack, err := b.foldRevocation(gctx, s, j)
				written.Add(int64(w))
				if pack != "" {
					mu.Lock()
					inPacks[pack] = append(inPacks[pack], j)
					packed = true
					mu.Unlock()
				}
				return err
			})
		}
		if err := g.Wait(); err != nil {
			return err
		}
		if packed {
			waiting = append(waiting, id)
			return nil
		}
		return deleteKey(ctx, s, revocationStoragePrefix+id)
	})
	if err != nil {
		return int(written.Load()), err
	}
	for pack, js := range inPacks {
		w, err := foldIntoPack(ctx, s, pack, js)
		written.Add(int64(w))
		if err != nil {
			return int(written.Load()), err
		}
		for _, j := range js {
			b.unfolded.drop(j.SerialNumber)
		}
	}
	for _, id := range waiting {
		if err := deleteKey(ctx, s, revocationStoragePrefix+id); err != nil {
			return int(written.Load()), err
		}
	}
	return int(written.Load()), nil
}

// foldIntoPack writes the revocations js into the records of the pack id
// that are not revoked yet, with one write of the pack, and returns how
// many it revoked. A record tidy took out of the pack stays out. The
// caller holds tidyMu, under which packs are written.
func foldIntoPack(ctx context.Context, s logical.Storage, id string, js []journaledRevocation) (int, error) {
	p, err := getPack(ctx, s, id)
	if err != nil || p == nil {
		return 0, err
	}
	n := 0
	for _, j := range js {
		if rec := p.find(j.SerialNumber); rec != nil && !rec.revoked() {
			j.applyTo(rec)
			n++
		}
	}
	if n == 0 {
		return 0, nil
	}
	return n, putPack(ctx, s, id, p)
}

// foldWorkers is how many records a fold writes at once: one at a time,
// each write waited for its round trip into Vault, and cost about three
// times the CPU of one among concurrent writes (bench P2).
const foldWorkers = 16

// foldJournalLogged is foldJournal, logging how many records it wrote.
// The caller holds tidyMu.
func (b *backend) foldJournalLogged(ctx context.Context, s logical.Storage) error {
	folded, err := b.foldJournal(ctx, s)
	if folded > 0 {
		b.Logger().Info("wrote journaled revocations into their records", "count", folded)
	}
	return err
}

// foldRevocation writes j into its certificate's record, if there is one
// not revoked yet, and returns how many records it wrote (0 or 1). A
// packed record is revoked in its pack by the caller, with the others of
// that pack: foldRevocation only returns the pack's name then. Otherwise
// the record written revoked is the one this process journaled, when it
// has it (tidy, which deletes records, drops it there first), or else the
// stored loose one with j applied.
func (b *backend) foldRevocation(ctx context.Context, s logical.Storage, j journaledRevocation) (int, string, error) {
	lock := locksutil.LockForKey(b.locks, j.SerialNumber)
	lock.Lock()
	defer lock.Unlock()
	if pack := b.reg.packOf(j.SerialNumber); pack != "" {
		return 0, pack, nil
	}
	rec := b.unfolded.get(j.SerialNumber)
	if rec == nil {
		var err error
		rec, err = getRecord(ctx, s, j.SerialNumber)
		if err != nil || rec == nil || rec.revoked() {
			return 0, "", err
		}
		j.applyTo(rec)
	}
	if err := putJSON(ctx, s, certStoragePrefix+rec.SerialNumber, rec); err != nil {
		return 0, "", err
	}
	b.unfolded.drop(j.SerialNumber)
	return 1, "", nil
}

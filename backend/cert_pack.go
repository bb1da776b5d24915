package backend

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/hashicorp/vault/sdk/logical"
)

// A certPack is the full records of many certificates in one storage entry,
// at certPackStoragePrefix + id: a mount's start reads a few hundred of them
// instead of one entry per certificate (a round trip through gRPC, Vault's
// barrier and its storage each).
//
// The issue path writes one loose entry per certificate (certStoragePrefix
// + serial); the pack fold (foldPacks) later writes the committed records,
// live and revoked, into packs. It leaves the loose entries where they are:
// deleting each cost issuance about one more storage operation per
// certificate while a fold ran (bench P5). Tidy deletes them (shedLoose),
// hourly or when asked. From the moment a fold takes a
// record, every change of its certificate goes into the journal (see
// writeRevocations) and from there into its pack, never into its loose
// entry: a pack written so is authoritative, and a load does not read the
// loose entries of its records.
//
// Packs written before that (Authoritative unset) may have loose entries
// newer than themselves: a revocation written loose after the fold packed
// the record live. A load reads those, a revoked copy beats a live one (a
// certificate's state only moves from live to revoked), and the fold writes
// such a revocation into the pack and deletes the loose entry, as it did
// then. Packs are written only under tidyMu: by the pack fold, by tidy
// (which takes expired records out of them) and by the journal's fold
// (which writes revocations of packed records into their packs).
type certPack struct {
	// Authoritative says that no loose entry of a record here is newer
	// than the pack's copy.
	Authoritative bool          `json:"authoritative,omitempty"`
	Records       []*certRecord `json:"records"`
}

// packBudget is the most bytes a pack's entry holds: well under Consul's
// 512 KiB and Raft's 1 MiB limits on one entry, with room for the barrier's
// overhead. A record is about 1.2 KB: some 210 records a pack.
const packBudget = 256 << 10

// packOpen and packClose surround a pack's records, separated by commas.
const (
	packOpen  = `{"authoritative":true,"records":[`
	packClose = `]}`
)

// An encodedPack is a pack's entry and the serials it holds, in order.
type encodedPack struct {
	value   []byte
	serials []string
}

// eachPack encodes recs into packs of at most budget bytes each, in
// order, and calls emit with each as soon as it is complete: a fold holds
// one pack's bytes at a time, not those of every record it packs (20,000
// records are 24 MB). A record that fits in no pack by itself is left out
// (it stays loose). It stops at emit's first error.
func eachPack(recs []*certRecord, budget int, emit func(encodedPack) error) error {
	var cur encodedPack
	flush := func() error {
		if len(cur.serials) == 0 {
			return nil
		}
		cur.value = append(cur.value, packClose...)
		p := cur
		cur = encodedPack{}
		return emit(p)
	}
	for _, rec := range recs {
		buf, err := json.Marshal(rec)
		if err != nil {
			return fmt.Errorf("encode record %s: %w", rec.SerialNumber, err)
		}
		if len(packOpen)+len(buf)+len(packClose) > budget {
			continue
		}
		if len(cur.serials) > 0 && len(cur.value)+1+len(buf)+len(packClose) > budget {
			if err := flush(); err != nil {
				return err
			}
		}
		if len(cur.serials) == 0 {
			cur.value = append(make([]byte, 0, min(budget, 64<<10)), packOpen...)
		} else {
			cur.value = append(cur.value, ',')
		}
		cur.value = append(cur.value, buf...)
		cur.serials = append(cur.serials, rec.SerialNumber)
	}
	return flush()
}

// getPack reads the pack id; nil when there is none.
func getPack(ctx context.Context, s logical.Storage, id string) (*certPack, error) {
	return getRecordEntry[certPack](ctx, s, certPackStoragePrefix+id)
}

// putPack writes p as the pack id, or deletes the pack when it holds no
// record. Its records must fit in packBudget: they come from a pack that
// did.
func putPack(ctx context.Context, s logical.Storage, id string, p *certPack) error {
	if len(p.Records) == 0 {
		return deleteKey(ctx, s, certPackStoragePrefix+id)
	}
	buf, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("encode %s: %w", certPackStoragePrefix+id, err)
	}
	return s.Put(ctx, &logical.StorageEntry{Key: certPackStoragePrefix + id, Value: buf})
}

// find is the record of serial in the pack, or nil.
func (p *certPack) find(serial string) *certRecord {
	for _, rec := range p.Records {
		if rec.SerialNumber == serial {
			return rec
		}
	}
	return nil
}

// storedRecord reads serial's record as storage holds it: its copy in the
// pack the registry knows for it, else its loose entry; nil when neither
// holds it. Where a loose entry may be newer than the pack (one that is not
// authoritative), the revoked copy of the two. A revocation still in the
// journal is not in it (see registry.revocation).
func (b *backend) storedRecord(ctx context.Context, s logical.Storage, serial string) (*certRecord, error) {
	var packed *certRecord
	if id := b.reg.packOf(serial); id != "" {
		p, err := getPack(ctx, s, id)
		if err != nil {
			return nil, err
		}
		if p != nil {
			packed = p.find(serial)
		}
		if packed != nil && (p.Authoritative || packed.revoked()) {
			return packed, nil
		}
	}
	loose, err := getRecord(ctx, s, serial)
	if err != nil {
		return nil, err
	}
	if loose == nil || (packed != nil && !loose.revoked()) {
		return packed, nil
	}
	return loose, nil
}

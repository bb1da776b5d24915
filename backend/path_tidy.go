package backend

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/helper/locksutil"
	"github.com/hashicorp/vault/sdk/logical"
	"golang.org/x/sync/errgroup"
)

const (
	// defaultSafetyBuffer is how long records outlive their certificate.
	defaultSafetyBuffer = 72 * time.Hour
	// tidyInterval is how often the periodic tidy runs.
	tidyInterval = time.Hour
)

func pathTidy(b *backend) []*framework.Path {
	return []*framework.Path{{
		Pattern: "tidy",
		DisplayAttrs: &framework.DisplayAttributes{
			OperationPrefix: operationPrefixWireGuard,
			OperationVerb:   "tidy",
		},
		Fields: map[string]*framework.FieldSchema{
			"safety_buffer": {
				Type:        framework.TypeDurationSecond,
				Description: "Keep records of certificates that expired less than this long ago.",
				Default:     int(defaultSafetyBuffer.Seconds()),
			},
			"unpack": {
				Type: framework.TypeBool,
				Description: "Write every packed record back to its own entry (certs/), delete the packs (certpacks/), " +
					"and pack no more until the plugin restarts: run it right before a downgrade to a version without packs.",
			},
		},
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.UpdateOperation: &framework.PathOperation{Callback: b.pathTidyWrite},
		},
		HelpSynopsis:    pathTidyHelpSyn,
		HelpDescription: pathTidyHelpDesc,
	}}
}

func (b *backend) pathTidyWrite(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	buffer := time.Duration(d.Get("safety_buffer").(int)) * time.Second
	if buffer < 0 {
		return logical.ErrorResponse("safety_buffer: must not be negative"), nil
	}
	unpack := d.Get("unpack").(bool)
	if unpack {
		b.packingOff.Store(true)
	}
	n, err := b.tidy(ctx, req.Storage, buffer)
	if err != nil {
		return nil, err
	}
	data := map[string]any{"deleted": n}
	if unpack {
		b.tidyMu.Lock()
		u, err := b.unpackAll(ctx, req.Storage)
		b.tidyMu.Unlock()
		if err != nil {
			return nil, err
		}
		data["unpacked"] = u
	}
	return &logical.Response{Data: data}, nil
}

// tidy first folds as the periodic function does (fold: the records only
// loose into packs, then the journal into the packs and records). Then it
// deletes the records of certificates that expired more
// than buffer ago (their loose entries first, then their copies in packs:
// a tidy cut short leaves a packed copy, which a load reads and the next
// tidy deletes, never a loose entry an authoritative pack no longer
// covers) and returns how many it deleted; last it deletes the loose
// copies of packed records (shedLoose).
func (b *backend) tidy(ctx context.Context, s logical.Storage, buffer time.Duration) (int, error) {
	if err := b.reg.wait(ctx, s); err != nil {
		return 0, err
	}
	b.tidyMu.Lock()
	defer b.tidyMu.Unlock()
	if err := b.fold(ctx, s); err != nil {
		return 0, err
	}
	now := b.now()
	expired := b.reg.tidyCandidates(now, buffer)
	packed := b.reg.byPack(expired)
	deleted := 0
	for _, serial := range expired {
		if err := b.tidyOne(ctx, s, serial); err != nil {
			return deleted, err
		}
		deleted++
	}
	if err := b.dropFromPacks(ctx, s, packed); err != nil {
		return deleted, err
	}
	if err := scheduleTidy(ctx, s, now); err != nil {
		return deleted, err
	}
	if deleted > 0 {
		b.Logger().Info("tidy deleted expired certificate records", "count", deleted)
	}
	if b.packingOff.Load() {
		return deleted, nil // unpackAll writes them all loose next
	}
	shed, err := b.shedLoose(ctx, s)
	if shed > 0 {
		b.Logger().Debug("deleted the loose copies of packed records", "count", shed)
	}
	return deleted, err
}

// dropFromPacks takes the records of the serials out of their packs, by pack,
// with one write of each pack (or its deletion once empty). The caller
// holds tidyMu, under which packs are written.
func (b *backend) dropFromPacks(ctx context.Context, s logical.Storage, serials map[string][]string) error {
	for id, out := range serials {
		p, err := getPack(ctx, s, id)
		if err != nil {
			return err
		}
		if p == nil {
			continue
		}
		drop := make(map[string]bool, len(out))
		for _, serial := range out {
			drop[serial] = true
		}
		had := len(p.Records)
		p.Records = slices.DeleteFunc(p.Records, func(rec *certRecord) bool { return drop[rec.SerialNumber] })
		if len(p.Records) == had {
			continue
		}
		if err := putPack(ctx, s, id, p); err != nil {
			return err
		}
	}
	return nil
}

// tidyOne deletes serial's loose record and forgets it; the caller takes
// its packed copy, if any, out of its pack next.
func (b *backend) tidyOne(ctx context.Context, s logical.Storage, serial string) error {
	lock := locksutil.LockForKey(b.locks, serial)
	lock.Lock()
	defer lock.Unlock()
	if err := deleteKey(ctx, s, certStoragePrefix+serial); err != nil {
		return err
	}
	b.unfolded.drop(serial) // a later fold must not write it back
	b.reg.forget(serial)
	return nil
}

// unpackAll writes every packed record to its own loose entry, unless it
// has one (as new as the packed copy, or newer), deletes each pack once its
// records are written, and returns how many records it wrote. The caller
// holds tidyMu, and packingOff is set: nothing packs them again.
func (b *backend) unpackAll(ctx context.Context, s logical.Storage) (int, error) {
	ids, err := s.List(ctx, certPackStoragePrefix)
	if err != nil {
		return 0, fmt.Errorf("list certificate packs: %w", err)
	}
	var written atomic.Int64
	for _, id := range ids {
		p, err := getPack(ctx, s, id)
		if err != nil {
			return int(written.Load()), err
		}
		if p == nil {
			continue
		}
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(foldWorkers)
		for _, rec := range p.Records {
			g.Go(func() error {
				w, err := b.unpackOne(gctx, s, rec)
				if w {
					written.Add(1)
				}
				return err
			})
		}
		if err := g.Wait(); err != nil {
			return int(written.Load()), err
		}
		if err := deleteKey(ctx, s, certPackStoragePrefix+id); err != nil {
			return int(written.Load()), err
		}
		b.reg.forgetPack(p)
	}
	return int(written.Load()), nil
}

// unpackOne writes rec, a packed record, to its own entry unless that
// says as much (it is revoked, or rec is live: a loose entry the fold left
// is never newer than an authoritative pack's copy, but it may be older),
// and reports whether it wrote it.
func (b *backend) unpackOne(ctx context.Context, s logical.Storage, rec *certRecord) (bool, error) {
	lock := locksutil.LockForKey(b.locks, rec.SerialNumber)
	lock.Lock()
	defer lock.Unlock()
	loose, err := getRecord(ctx, s, rec.SerialNumber)
	if err != nil || (loose != nil && (loose.revoked() || !rec.revoked())) {
		return false, err
	}
	return true, putJSON(ctx, s, certStoragePrefix+rec.SerialNumber, rec)
}

const pathTidyHelpSyn = `Delete the records of long-expired certificates.`

const pathTidyHelpDesc = `
Deletes the issuance records of certificates that expired more than
safety_buffer ago (default 72h), revoked or not. First it packs the loose
records into a few large entries (certpacks/) and writes the revocations
that were stored together (a mass revocation's, under revocations/) into
the records of their certificates, as the mount also does about once a
minute; last it deletes the loose records that packs now hold. A revoked
certificate stays on the CRL until it expires.
Tidy also runs every hour on the active node.

With unpack=true, tidy then writes every packed record back to its own
entry and deletes the packs, and the mount packs no more until the plugin
restarts: run it right before a downgrade to a version that does not read
packs.
`

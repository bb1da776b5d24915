package backend

import (
	"context"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/helper/locksutil"
	"github.com/hashicorp/vault/sdk/logical"
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
	n, err := b.tidy(ctx, req.Storage, buffer)
	if err != nil {
		return nil, err
	}
	return &logical.Response{Data: map[string]any{"deleted": n}}, nil
}

// tidy writes the revocations of the journal into their records, then
// deletes the records of certificates that expired more than buffer ago
// and returns how many it deleted.
func (b *backend) tidy(ctx context.Context, s logical.Storage, buffer time.Duration) (int, error) {
	if err := b.reg.wait(ctx, s); err != nil {
		return 0, err
	}
	b.tidyMu.Lock()
	defer b.tidyMu.Unlock()
	if err := b.foldJournalLogged(ctx, s); err != nil {
		return 0, err
	}
	now := b.now()
	deleted := 0
	for _, serial := range b.reg.tidyCandidates(now, buffer) {
		if err := b.tidyOne(ctx, s, serial); err != nil {
			return deleted, err
		}
		deleted++
	}
	b.lastTidy = now
	if deleted > 0 {
		b.Logger().Info("tidy deleted expired certificate records", "count", deleted)
	}
	return deleted, nil
}

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

const pathTidyHelpSyn = `Delete the records of long-expired certificates.`

const pathTidyHelpDesc = `
Deletes the issuance records of certificates that expired more than
safety_buffer ago (default 72h), revoked or not. First it writes the
revocations that were stored together (a mass revocation's, under
revocations/) into the records of their certificates. A revoked certificate stays
on the CRL until it expires. Tidy also runs every hour on the active node.
`

package backend

import (
	"context"
	"fmt"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/helper/locksutil"
	"github.com/hashicorp/vault/sdk/logical"
)

// secretCertificateType is the lease type of an issued certificate.
const secretCertificateType = "wireguard_certificate"

func secretCertificate(b *backend) *framework.Secret {
	return &framework.Secret{
		Type: secretCertificateType,
		Fields: map[string]*framework.FieldSchema{
			"certificate":   {Type: framework.TypeString, Description: "The certificate, PEM."},
			"serial_number": {Type: framework.TypeString, Description: "The certificate's serial number."},
		},
		Revoke: b.secretCertificateRevoke,
	}
}

// secretCertificateRevoke runs when the lease is revoked or expires. It
// reads only the lease's internal data, and treats a certificate that is
// already revoked or gone as success, so Vault never marks it irrevocable
// for anything but a storage failure.
func (b *backend) secretCertificateRevoke(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	serial, ok := req.Secret.InternalData["serial_number"].(string)
	if !ok || serial == "" {
		return nil, fmt.Errorf("lease has no serial_number in its internal data")
	}
	if err := b.reg.wait(ctx, req.Storage); err != nil {
		return nil, err
	}
	return nil, b.revokeSerial(ctx, req.Storage, serial)
}

// revokeSerial revokes a live certificate: it writes the record as revoked
// (or, with the revocations of other callers at the same moment, one
// journal entry: see revocationBatcher), then releases the addresses, takes
// the peer out of its gateway's feed (waking long-polls) and puts the
// serial on the CRL. A certificate that is not live is left as it is. It
// never calls a gateway.
func (b *backend) revokeSerial(ctx context.Context, s logical.Storage, serial string) error {
	return b.revokeSerialAs(ctx, s, serial, revocationNote{})
}

// A revocationNote says who revoked a certificate and why, in its record.
type revocationNote struct {
	by, byEntityID, block string
	// replacedBy is the serial of the certificate that replaced it.
	replacedBy string
}

// revokeSerialAs is revokeSerial writing note into the record.
func (b *backend) revokeSerialAs(ctx context.Context, s logical.Storage, serial string, note revocationNote) error {
	lock := locksutil.LockForKey(b.locks, serial)
	lock.Lock()
	defer lock.Unlock()

	rec := b.reg.lookup(serial)
	if rec == nil {
		return nil
	}
	// Revocations made at the same moment (Vault's workers revoking
	// leases by prefix) share one storage write.
	revoked := b.revokedRecord(rec, note)
	if err := b.revocations.persist(ctx, revoked, func(ctx context.Context, batch []*certRecord) error {
		return b.writeRevocations(ctx, s, batch)
	}); err != nil {
		return err
	}
	b.reg.markRevoked(revoked)
	return nil
}

// putRevoked writes rec's record revoked now, with note; the caller holds
// the serial's lock and then tells the registry (markRevoked).
func (b *backend) putRevoked(ctx context.Context, s logical.Storage, rec *certRecord, note revocationNote) (*certRecord, error) {
	revoked := b.revokedRecord(rec, note)
	if err := putJSON(ctx, s, certStoragePrefix+rec.SerialNumber, revoked); err != nil {
		return nil, err
	}
	return revoked, nil
}

// revokedRecord is rec revoked now, with note.
func (b *backend) revokedRecord(rec *certRecord, note revocationNote) *certRecord {
	revoked := *rec
	revoked.RevokedAt = b.now().UTC()
	revoked.RevokedBy, revoked.RevokedByEntityID, revoked.Block = note.by, note.byEntityID, note.block
	revoked.ReplacedBy = note.replacedBy
	return &revoked
}

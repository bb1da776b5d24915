package backend

import (
	"context"
	"strings"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/wgkey"
)

func pathRevoke(b *backend) []*framework.Path {
	return []*framework.Path{{
		Pattern: "revoke",
		DisplayAttrs: &framework.DisplayAttributes{
			OperationPrefix: operationPrefixWireGuard,
			OperationVerb:   "revoke",
			OperationSuffix: "certificate",
		},
		Fields: map[string]*framework.FieldSchema{
			"serial_number": {Type: framework.TypeString, Description: "Serial number of the certificate to revoke."},
			"public_key":    {Type: framework.TypeString, Description: "WireGuard public key whose live certificates to revoke, every one of them."},
			"confirm": {
				Type:        framework.TypeDurationSecond,
				Description: "Wait up to this long (at most 30s) until every fresh instance of every gateway concerned has applied the revocation; the answer then says enforced, and names the instances, laggards and stale instances.",
			},
		},
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.UpdateOperation: &framework.PathOperation{Callback: b.pathRevokeWrite},
		},
		HelpSynopsis:    pathRevokeHelpSyn,
		HelpDescription: pathRevokeHelpDesc,
	}}
}

func (b *backend) pathRevokeWrite(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	serialIn := strings.TrimSpace(d.Get("serial_number").(string))
	keyIn := strings.TrimSpace(d.Get("public_key").(string))
	if (serialIn == "") == (keyIn == "") {
		return logical.ErrorResponse("serial_number or public_key: give exactly one"), nil
	}
	confirm, msg := confirmDuration(d, "confirm")
	if msg != "" {
		return logical.ErrorResponse(msg), nil
	}
	if err := b.reg.wait(ctx, req.Storage); err != nil {
		return nil, err
	}

	var serials []string
	if serialIn != "" {
		serial, ok := normalizeSerial(serialIn)
		if !ok {
			return logical.ErrorResponse("serial_number: %q is not a hex serial number", serialIn), nil
		}
		if !b.reg.known(serial) {
			return logical.ErrorResponse("serial_number: no certificate with serial %s", writtenSerial(serialIn)), nil
		}
		serials = []string{serial}
	} else {
		key, err := wgkey.ParsePublic(keyIn)
		if err != nil {
			return logical.ErrorResponse("public_key: %s", err), nil
		}
		// Every live certificate for the key, whichever encoding of the
		// point it was issued for; none when all are revoked already.
		serials = b.reg.serialsForKey(key)
	}
	for _, serial := range serials {
		if err := b.revokeSerial(ctx, req.Storage, serial); err != nil {
			return nil, err
		}
	}
	if serials == nil {
		serials = []string{}
	}
	data := map[string]any{"serial_numbers": serials}
	if confirm > 0 {
		if err := b.confirmRevoked(ctx, req.Storage, serials, confirm, data); err != nil {
			return nil, err
		}
	}
	return &logical.Response{Data: data}, nil
}

const pathRevokeHelpSyn = `Revoke a certificate by serial number or WireGuard public key.`

const pathRevokeHelpDesc = `
Revokes the certificate (by public_key: every live certificate for that key,
listed in serial_numbers) at once, with the same effect as revoking its lease:
it joins the CRL, its addresses return to the pool and its peer leaves the
gateway's peer set. Revoking again is a no-op. The lease itself stays until it
expires or is revoked; its revocation then finds nothing left to do.

With confirm (a duration, at most 30s), the answer waits until every fresh
instance of every gateway concerned has reported applying the feed revision
that removed the certificates, or until confirm has passed: enforced is true
when they all did (instances names them, as gateway/instance), false with
the laggards (instance, applied_index, the index it must reach, last_report)
otherwise. Instances whose reports stopped are listed apart (stale) and do
not hold the answer back; a gateway with no fresh instance at all is listed
in unwatched_gateways and makes enforced false. A confirm in flight delays a
seal or step-down of Vault by at most what is left of it.
`

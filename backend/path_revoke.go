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
			fieldEntityID:   {Type: framework.TypeString, Description: "Vault entity id whose live certificates to revoke, every one of them."},
			fieldCommonName: {Type: framework.TypeString, Description: "Common name whose live certificates to revoke, every one of them."},
			fieldRole:       {Type: framework.TypeString, Description: "Role whose live certificates to revoke, every one of them."},
			"confirm":       confirmField(),
		},
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.UpdateOperation: &framework.PathOperation{Callback: b.withConfirm(b.pathRevokeWrite)},
		},
		HelpSynopsis:    pathRevokeHelpSyn,
		HelpDescription: pathRevokeHelpDesc,
	}}
}

func (b *backend) pathRevokeWrite(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	if err := b.reg.wait(ctx, req.Storage); err != nil {
		return nil, err
	}
	serials, resp := b.revokeSelection(d)
	if resp != nil {
		return resp, nil
	}
	for _, serial := range serials {
		if err := b.revokeSerial(ctx, req.Storage, serial); err != nil {
			return nil, err
		}
	}
	if serials == nil {
		serials = []string{}
	}
	return &logical.Response{Data: map[string]any{"serial_numbers": serials}}, nil
}

// revokeSelectors are the fields of which a revoke request gives exactly one.
var revokeSelectors = []string{"serial_number", fieldPublicKey, fieldEntityID, fieldCommonName, fieldRole}

// revokeSelection returns the serials a revoke request selects: the one
// named by serial_number, or every live certificate of the public_key,
// entity_id, common_name or role given. A mistake of the caller comes back
// as an error response.
func (b *backend) revokeSelection(d *framework.FieldData) ([]string, *logical.Response) {
	var field, value string
	given := 0
	for _, f := range revokeSelectors {
		if v := strings.TrimSpace(d.Get(f).(string)); v != "" {
			field, value = f, v
			given++
		}
	}
	if given != 1 {
		return nil, logical.ErrorResponse("serial_number, public_key, entity_id, common_name or role: give exactly one")
	}
	switch field {
	case "serial_number":
		serial, ok := normalizeSerial(value)
		if !ok {
			return nil, logical.ErrorResponse("serial_number: %q is not a hex serial number", value)
		}
		if !b.reg.known(serial) {
			return nil, logical.ErrorResponse("serial_number: no certificate with serial %s", writtenSerial(value))
		}
		return []string{serial}, nil
	case fieldPublicKey:
		key, err := wgkey.ParsePublic(value)
		if err != nil {
			return nil, logical.ErrorResponse("public_key: %s", err)
		}
		// Every live certificate for the key, whichever encoding of the
		// point it was issued for; none when all are revoked already.
		return b.reg.serialsForKey(key), nil
	}
	// The common name as given (names may end in spaces), the others trimmed.
	if field == fieldCommonName {
		value = d.Get(field).(string)
	}
	var serials []string
	for _, rec := range b.reg.find(b.now(), certQuery{live: true, filters: map[string]string{field: value}}) {
		serials = append(serials, rec.SerialNumber)
	}
	return serials, nil
}

const pathRevokeHelpSyn = `Revoke a certificate by serial number, or every live one of a key, entity, common name or role.`

const pathRevokeHelpDesc = `
Give exactly one of serial_number, public_key, entity_id, common_name or
role. Revokes the certificate (by any other field than serial_number: every
live certificate that has it; all are listed in serial_numbers) at once, with the same effect as revoking its lease:
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

package backend

import (
	"context"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

// serialRegex matches a serial number in a path: hex with colons or dashes.
const serialRegex = `(?P<serial>[0-9a-fA-F:-]+)`

func pathCerts(b *backend) []*framework.Path {
	return []*framework.Path{
		{
			Pattern: "cert/" + serialRegex,
			DisplayAttrs: &framework.DisplayAttributes{
				OperationPrefix: operationPrefixWireGuard,
				OperationVerb:   "read",
				OperationSuffix: "certificate",
			},
			Fields: map[string]*framework.FieldSchema{
				"serial": {Type: framework.TypeString, Description: "Serial number, hex with or without colons.", Required: true},
			},
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ReadOperation: &framework.PathOperation{Callback: b.pathCertRead},
			},
			HelpSynopsis:    pathCertsHelpSyn,
			HelpDescription: pathCertsHelpDesc,
		},
		{
			Pattern: "certs/?$",
			DisplayAttrs: &framework.DisplayAttributes{
				OperationPrefix: operationPrefixWireGuard,
				OperationVerb:   "list",
				OperationSuffix: "certificates",
			},
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ListOperation: &framework.PathOperation{Callback: b.pathCertsList},
			},
			HelpSynopsis:    pathCertsHelpSyn,
			HelpDescription: pathCertsHelpDesc,
		},
	}
}

func (b *backend) pathCertRead(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	in := d.Get("serial").(string)
	serial, ok := normalizeSerial(in)
	if !ok {
		return logical.ErrorResponse("serial: %q is not a hex serial number", in), nil
	}
	var rec certRecord
	found, err := getJSON(ctx, req.Storage, certStoragePrefix+serial, &rec)
	if err != nil || !found {
		return nil, err
	}
	return &logical.Response{Data: rec.responseData()}, nil
}

func (b *backend) pathCertsList(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	serials, err := req.Storage.List(ctx, certStoragePrefix)
	if err != nil {
		return nil, err
	}
	return logical.ListResponse(serials), nil
}

const pathCertsHelpSyn = `Issuance records: list serials (certs/) or read one (cert/:serial).`

const pathCertsHelpDesc = `
Every issued certificate has a record until tidy removes it: the certificate,
its WireGuard key, addresses and gateway, who asked for it (entity id, display
name, auth mounts, role), and when it was issued, expires and was revoked.
`

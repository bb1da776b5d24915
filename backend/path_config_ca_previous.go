package backend

import (
	"context"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/helper/locksutil"
	"github.com/hashicorp/vault/sdk/logical"
)

func pathConfigCAPrevious(b *backend) []*framework.Path {
	return []*framework.Path{
		{
			Pattern: "config/ca/previous/(?P<issuer_ref>[0-9a-fA-F:-]+)",
			DisplayAttrs: &framework.DisplayAttributes{
				OperationPrefix: operationPrefixWireGuard,
				OperationSuffix: "previous-ca",
			},
			Fields: map[string]*framework.FieldSchema{
				"issuer_ref": {
					Type:        framework.TypeString,
					Description: "Key id (subject key identifier, hex) or serial number of a previous CA.",
					Required:    true,
				},
			},
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ReadOperation:   &framework.PathOperation{Callback: b.pathConfigCAPreviousRead},
				logical.DeleteOperation: &framework.PathOperation{Callback: b.pathConfigCAPreviousDelete},
			},
			HelpSynopsis:    pathConfigCAPreviousHelpSyn,
			HelpDescription: pathConfigCAPreviousHelpDesc,
		},
		{
			Pattern: "config/ca/previous/?$",
			DisplayAttrs: &framework.DisplayAttributes{
				OperationPrefix: operationPrefixWireGuard,
				OperationSuffix: "previous-cas",
			},
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ListOperation: &framework.PathOperation{Callback: b.pathConfigCAPreviousList},
			},
			HelpSynopsis:    pathConfigCAPreviousHelpSyn,
			HelpDescription: pathConfigCAPreviousHelpDesc,
		},
	}
}

func (b *backend) pathConfigCAPreviousList(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	ca, err := b.getCA(ctx, req.Storage)
	if err != nil || ca == nil {
		return nil, err
	}
	var keys []string
	info := make(map[string]any)
	for _, a := range ca.authorities[1:] {
		keys = append(keys, a.keyID)
		info[a.keyID] = a.responseData(false)
	}
	return logical.ListResponseWithInfo(keys, info), nil
}

func (b *backend) pathConfigCAPreviousRead(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	_, prev, resp, err := b.previousCA(ctx, req, d)
	if resp != nil || err != nil {
		return resp, err
	}
	live, err := b.reg.liveIssuedBy(ctx, req.Storage, prev.keyID, b.now())
	if err != nil {
		return nil, err
	}
	data := prev.responseData(false)
	data["certificate"] = prev.certPEM
	data["live_certificates"] = live
	return &logical.Response{Data: data}, nil
}

// pathConfigCAPreviousDelete drops a previous CA, with its CRL and the
// cross-signatures of it and by it, once no live certificate chains to it.
func (b *backend) pathConfigCAPreviousDelete(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	lock := locksutil.LockForKey(b.locks, caStorageKey)
	lock.Lock()
	defer lock.Unlock()
	ca, prev, resp, err := b.previousCA(ctx, req, d)
	if resp != nil || err != nil {
		return resp, err
	}
	live, err := b.reg.liveIssuedBy(ctx, req.Storage, prev.keyID, b.now())
	if err != nil {
		return nil, err
	}
	if live > 0 {
		return logical.ErrorResponse("issuer_ref: CA %s still has %d live certificates; revoke them or wait until they expire",
			prev.keyID, live), nil
	}
	if _, err := b.putCA(ctx, req.Storage, ca.without(prev)); err != nil {
		return nil, err
	}
	return nil, nil
}

// previousCA finds the previous CA that issuer_ref names. A ref that names
// the current CA or nothing is the caller's mistake.
func (b *backend) previousCA(ctx context.Context, req *logical.Request, d *framework.FieldData) (*caBundle, *authority, *logical.Response, error) {
	ca, err := b.getCA(ctx, req.Storage)
	if err != nil {
		return nil, nil, nil, err
	}
	if ca == nil {
		return nil, nil, logical.ErrorResponse("no CA is configured: write config/ca first"), nil
	}
	ref := d.Get("issuer_ref").(string)
	switch a := ca.find(ref); {
	case a == nil:
		return nil, nil, logical.ErrorResponse("issuer_ref: no previous CA %q (config/ca/previous/ lists them)", ref), nil
	case a == ca.authorities[0]:
		return nil, nil, logical.ErrorResponse("issuer_ref: %s is the current CA; rotate it (config/ca) first", a.keyID), nil
	default:
		return ca, a, nil, nil
	}
}

const pathConfigCAPreviousHelpSyn = `List, read or drop the CAs a rotation replaced.`

const pathConfigCAPreviousHelpDesc = `
A rotation (a write to config/ca) keeps the replaced CA: it stays in ca/pem,
so certificates it issued keep verifying, and it signs the CRL of those
certificates on crl/pem. Once no live certificate chains to it (all revoked
or expired), delete config/ca/previous/:issuer_ref, by key id or serial
number, to drop it with its CRL and the cross-signatures of it and by it.
Deleting is refused while a live certificate chains to it. Reading shows its
expiry and how many live certificates it still has.
`

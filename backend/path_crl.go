package backend

import (
	"context"
	"encoding/pem"
	"net/http"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

func pathCRL(b *backend) []*framework.Path {
	return []*framework.Path{
		{
			Pattern: "crl/pem",
			DisplayAttrs: &framework.DisplayAttributes{
				OperationPrefix: operationPrefixWireGuard,
				OperationVerb:   "read",
				OperationSuffix: "crl-pem",
			},
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ReadOperation: &framework.PathOperation{Callback: b.pathCRLRead(true)},
			},
			HelpSynopsis:    pathCRLHelpSyn,
			HelpDescription: pathCRLHelpDesc,
		},
		{
			Pattern: "crl",
			DisplayAttrs: &framework.DisplayAttributes{
				OperationPrefix: operationPrefixWireGuard,
				OperationVerb:   "read",
				OperationSuffix: "crl",
			},
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ReadOperation: &framework.PathOperation{Callback: b.pathCRLRead(false)},
			},
			HelpSynopsis:    pathCRLHelpSyn,
			HelpDescription: pathCRLHelpDesc,
		},
	}
}

func (b *backend) pathCRLRead(asPEM bool) framework.OperationFunc {
	return func(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
		ca, err := b.getCA(ctx, req.Storage)
		if err != nil {
			return nil, err
		}
		if ca == nil {
			return rawResponse(http.StatusNotFound, "text/plain", []byte("no CA is configured\n")), nil
		}
		if err := b.reg.wait(ctx, req.Storage); err != nil {
			return nil, err
		}
		crls, err := b.reg.crls(ca, b.now())
		if err != nil {
			return nil, err
		}
		if asPEM {
			var body []byte
			for _, c := range crls {
				body = append(body, pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: c.der})...)
			}
			return rawResponse(http.StatusOK, "application/x-pem-file", body), nil
		}
		return rawResponse(http.StatusOK, "application/pkix-crl", crls[0].der), nil
	}
}

const pathCRLHelpSyn = `The certificate revocation lists: the current CA's as DER (crl), every CA's as PEM (crl/pem). No token needed.`

const pathCRLHelpDesc = `
Each kept CA signs its own CRL, listing the revoked certificates it issued
that have not yet expired. crl returns the current CA's CRL (DER); crl/pem
returns the CRL of every kept CA, the current CA's first, as concatenated
X509 CRL PEM blocks, ready for openssl verify -crl_check -CRLfile. The CRLs
are rebuilt on the first read after a revocation, so they are always current,
and a burst of revocations costs one rebuild.
`

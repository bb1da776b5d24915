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
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ReadOperation: &framework.PathOperation{Callback: b.pathCRLRead(true)},
			},
			HelpSynopsis:    pathCRLHelpSyn,
			HelpDescription: pathCRLHelpDesc,
		},
		{
			Pattern: "crl",
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
		der, err := b.reg.crl(ca, b.now())
		if err != nil {
			return nil, err
		}
		if asPEM {
			return rawResponse(http.StatusOK, "application/x-pem-file",
				pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der})), nil
		}
		return rawResponse(http.StatusOK, "application/pkix-crl", der), nil
	}
}

const pathCRLHelpSyn = `The certificate revocation list, DER (crl) or PEM (crl/pem). No token needed.`

const pathCRLHelpDesc = `
The CRL lists every revoked certificate that has not yet expired. It is rebuilt
on the first read after a revocation, so it is always current, and a burst of
revocations costs one rebuild.
`

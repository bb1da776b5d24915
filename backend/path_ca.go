package backend

import (
	"context"
	"net/http"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

func pathCA(b *backend) []*framework.Path {
	return []*framework.Path{
		{
			Pattern: "ca/pem",
			DisplayAttrs: &framework.DisplayAttributes{
				OperationPrefix: operationPrefixWireGuard,
				OperationVerb:   "read",
				OperationSuffix: "ca-pem",
			},
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ReadOperation: &framework.PathOperation{Callback: b.pathCAPEMRead},
			},
			HelpSynopsis:    pathCAHelpSyn,
			HelpDescription: pathCAHelpDesc,
		},
		{
			Pattern: "ca",
			DisplayAttrs: &framework.DisplayAttributes{
				OperationPrefix: operationPrefixWireGuard,
				OperationVerb:   "read",
				OperationSuffix: "ca",
			},
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ReadOperation: &framework.PathOperation{Callback: b.pathCARead},
			},
			HelpSynopsis:    pathCAHelpSyn,
			HelpDescription: pathCAHelpDesc,
		},
	}
}

func (b *backend) pathCARead(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	ca, err := b.getCA(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	if ca == nil {
		return logical.ErrorResponse("no CA is configured: write config/ca first"), nil
	}
	return &logical.Response{Data: caResponseData(ca)}, nil
}

func (b *backend) pathCAPEMRead(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	ca, err := b.getCA(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	if ca == nil {
		return rawResponse(http.StatusNotFound, "text/plain", []byte("no CA is configured\n")), nil
	}
	return rawResponse(http.StatusOK, "application/pem-certificate-chain", []byte(ca.chainPEM)), nil
}

// rawResponse answers with a body that Vault passes through unwrapped.
func rawResponse(status int, contentType string, body []byte) *logical.Response {
	return &logical.Response{Data: map[string]any{
		logical.HTTPStatusCode:  status,
		logical.HTTPContentType: contentType,
		logical.HTTPRawBody:     body,
	}}
}

const pathCAHelpSyn = `The CA certificate, as JSON (ca) or PEM (ca/pem). No token needed.`

const pathCAHelpDesc = `
ca returns the current CA certificate, every kept CA (issuers, each with its
key id and expiration) and the cross-signed certificates. ca/pem returns the
bundle as raw PEM: the current CA (self-signed), the current and previous CAs
cross-signed by older ones, then the previous CAs (self-signed), ready for a
gateway's -ca-file or openssl verify -CAfile. A gateway that pinned an older
CA trusts a newer one through its cross-signature.
`

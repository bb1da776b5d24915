package backend

import (
	"context"
	"strings"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/wgkey"
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
				OperationSuffix: "certificates",
			},
			Fields: certsQueryFields(),
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ListOperation: &framework.PathOperation{
					Callback:     b.pathCertsList,
					DisplayAttrs: &framework.DisplayAttributes{OperationVerb: "list"},
				},
				logical.ReadOperation: &framework.PathOperation{
					Callback:     b.pathCertsList,
					DisplayAttrs: &framework.DisplayAttributes{OperationVerb: "find"},
				},
			},
			HelpSynopsis:    pathCertsListHelpSyn,
			HelpDescription: pathCertsListHelpDesc,
		},
	}
}

func (b *backend) pathCertRead(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	in := d.Get("serial").(string)
	serial, ok := normalizeSerial(in)
	if !ok {
		return logical.ErrorResponse("serial: %q is not a hex serial number", in), nil
	}
	if err := b.reg.wait(ctx, req.Storage); err != nil {
		return nil, err
	}
	rec, err := b.storedRecord(ctx, req.Storage, serial)
	if err != nil || rec == nil {
		return nil, err
	}
	// A revocation in the journal is not in the record yet.
	if j, ok := b.reg.revocation(serial); ok && !rec.revoked() {
		j.applyTo(rec)
	}
	data := rec.responseData()
	if data[fieldAllowedDestinations], err = rec.destinations(); err != nil {
		return nil, err
	}
	return &logical.Response{Data: data}, nil
}

// certsQueryFields are the filters and paging of certs/.
func certsQueryFields() map[string]*framework.FieldSchema {
	q := func(t framework.FieldType, desc string) *framework.FieldSchema {
		return &framework.FieldSchema{Type: t, Description: desc, Query: true}
	}
	return map[string]*framework.FieldSchema{
		"live":          q(framework.TypeBool, "Only certificates neither revoked nor expired."),
		fieldCommonName: q(framework.TypeString, "Only certificates with this common name."),
		fieldEntityID:   q(framework.TypeString, "Only certificates issued to this Vault entity id."),
		fieldRole:       q(framework.TypeString, "Only certificates issued under this role."),
		fieldGateway:    q(framework.TypeString, "Only certificates for this gateway."),
		fieldAddress:    q(framework.TypeString, "Only certificates holding this tunnel address (10.77.3.4, or a host prefix such as fd77::2/128)."),
		fieldPublicKey:  q(framework.TypeString, "Only certificates for this WireGuard public key (base64), compared as an X25519 point."),
		"after":         q(framework.TypeString, "Only serials sorting after this one (the last serial of the previous page)."),
		"limit":         q(framework.TypeInt, "At most this many entries; all when 0 or omitted."),
	}
}

// parseCertQuery reads the filters and paging of certs/; a mistake of the
// caller comes back as an error response.
func parseCertQuery(d *framework.FieldData) (certQuery, *logical.Response) {
	q := certQuery{
		live:    d.Get("live").(bool),
		after:   d.Get("after").(string),
		limit:   d.Get("limit").(int),
		filters: map[string]string{},
	}
	if q.limit < 0 {
		return q, logical.ErrorResponse("limit: must not be negative")
	}
	for _, f := range indexedFields {
		raw, ok := d.GetOk(f)
		if !ok {
			continue
		}
		v := raw.(string)
		switch f {
		case fieldAddress:
			key, ok := addressKey(strings.TrimSpace(v))
			if !ok {
				return q, logical.ErrorResponse("address: %q is not an IP address", v)
			}
			v = key
		case fieldPublicKey:
			k, err := wgkey.ParsePublic(strings.TrimSpace(v))
			if err != nil {
				return q, logical.ErrorResponse("public_key: %s", err)
			}
			v = wgkey.Point(k).String()
		}
		q.filters[f] = v
	}
	return q, nil
}

// pathCertsList answers LIST certs/ and its form for the plain CLI, a read
// of certs (vault read wg/certs live=true common_name=laptop-7), from the
// registry: the matching serials with key_info.
func (b *backend) pathCertsList(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	q, resp := parseCertQuery(d)
	if resp != nil {
		return resp, nil
	}
	if err := b.reg.wait(ctx, req.Storage); err != nil {
		return nil, err
	}
	recs := b.reg.find(b.now(), q)
	keys := make([]string, 0, len(recs))
	info := make(map[string]any, len(recs))
	for _, rec := range recs {
		keys = append(keys, rec.SerialNumber)
		info[rec.SerialNumber] = rec.keyInfo()
	}
	return logical.ListResponseWithInfo(keys, info), nil
}

const pathCertsHelpSyn = `Issuance records: list serials (certs/) or read one (cert/:serial).`

const pathCertsListHelpSyn = `Find issued certificates by identity, role, gateway, address or key, a page at a time.`

const pathCertsListHelpDesc = `
LIST certs/ (vault list -detailed wg/certs) and a read of certs (vault read
wg/certs live=true common_name=laptop-7, for the CLI, whose list command sends
no parameters) answer the same: the serials of the matching certificates,
sorted, in keys, with key_info giving each one's common_name, addresses,
gateway, role, entity_id, public_key, expiration and revoked. Every filter
given must match: live (neither revoked nor expired), common_name,
entity_id, role, gateway, address (which certificate holds 10.77.3.4?),
public_key (any encoding of the same X25519 point). Pages: limit entries
after the serial given in after. Answers come from memory, in time that
grows with the matching certificates, not with all of them. Records removed
by tidy are not found.
`

const pathCertsHelpDesc = `
Every issued certificate has a record until tidy removes it: the certificate,
its WireGuard key, addresses and gateway, who asked for it (entity id, display
name, auth mounts, role), and when it was issued, expires and was revoked;
revoked by a block, the block's name (block) and who wrote it (revoked_by,
revoked_by_entity_id).
`

package backend

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/peerfeed"
)

// maxPeersWait is the longest a long-poll is held; a longer wait is cut to
// it and the caller polls again. Vault holds its state read-lock for every
// request in flight, and sealing or stepping down takes the write lock,
// waiting (up to 90s) for those requests first; no plugin is told before.
// So a long-poll must end soon on its own: with at most one second, an
// emergency seal or a step-down waits at most that long for the gateways,
// and an idle gateway costs Vault one request per second.
const maxPeersWait = time.Second

func pathGatewayPeers(b *backend) []*framework.Path {
	return []*framework.Path{{
		Pattern: "gateways/" + framework.GenericNameRegex("name") + "/peers",
		DisplayAttrs: &framework.DisplayAttributes{
			OperationPrefix: operationPrefixWireGuard,
			OperationVerb:   "read",
			OperationSuffix: "gateway-peers",
		},
		Fields: map[string]*framework.FieldSchema{
			"name": {Type: framework.TypeString, Description: "Name of the gateway.", Required: true},
			"index": {
				Type:        framework.TypeString,
				Description: "The revision the caller has applied; 0 or omitted asks for the full set.",
				Query:       true,
			},
			"limit": {
				Type:        framework.TypeInt,
				Description: "Page the full set: at most this many peers (at most 1000; more is cut to 1000), the rest from the answer's next on. 0 or omitted: the whole set in one answer. Applies whenever the answer is the full set; a delta is never paged.",
				Query:       true,
			},
			"after": {
				Type:        framework.TypeString,
				Description: "With index 0 (a full read): the page starts after this serial (colon-separated hex), the next of the previous page.",
				Query:       true,
			},
			"certificate_format": {
				Type:        framework.TypeString,
				Description: "How each peer carries its certificate: pem (the default: PEM in certificate, with allowed_ips and expiration) or der (base64 DER in certificate_der, and no allowed_ips or expiration, which the certificate holds: about 20% fewer bytes). Engines before this field answer pem whatever is asked.",
				Query:       true,
			},
			"wait": {
				Type:        framework.TypeDurationSecond,
				Description: "With index: how long to wait for a change when there is none yet; at most 1s is held (longer waits end after 1s with an unchanged index), so poll again.",
				Query:       true,
			},
		},
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.ReadOperation: &framework.PathOperation{Callback: b.withGateway(b.pathGatewayPeersRead)},
		},
		HelpSynopsis:    pathGatewayPeersHelpSyn,
		HelpDescription: pathGatewayPeersHelpDesc,
	}}
}

func (b *backend) pathGatewayPeersRead(ctx context.Context, req *logical.Request, d *framework.FieldData, gw *gatewayEntry) (*logical.Response, error) {
	name := gw.Name
	since, err := parseIndex(d.Get("index").(string))
	if err != nil {
		return logical.ErrorResponse("index: %s", err), nil
	}
	wait := time.Duration(d.Get("wait").(int)) * time.Second
	if wait < 0 {
		return logical.ErrorResponse("wait: must not be negative"), nil
	}
	limit := d.Get("limit").(int)
	if limit < 0 {
		return logical.ErrorResponse("limit: must not be negative"), nil
	}
	limit = min(limit, peerfeed.MaxPage)
	after, err := parseAfter(d.Get("after").(string), since)
	if err != nil {
		return logical.ErrorResponse("after: %s", err), nil
	}
	der, err := parseCertificateFormat(d.Get("certificate_format").(string))
	if err != nil {
		return logical.ErrorResponse("certificate_format: %s", err), nil
	}
	if err := b.reg.wait(ctx, req.Storage); err != nil {
		return nil, err
	}
	ca, err := b.getCA(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	signer := feedSignerOf(ca)
	snap := b.reg.poll(ctx, name, since, min(wait, maxPeersWait))
	if snap.resp.Full && limit == 0 && after == "" {
		// Built once per revision, shared by concurrent readers.
		body, err := b.reg.fullBody(ctx, name, snap, gw.AddressPool, signer, der)
		if err != nil {
			return nil, err
		}
		return feedResponse(body), nil
	}
	if snap.resp.Full {
		// A page, cut from the revision's shared peer order.
		snap.records, snap.resp.Next = snap.order.page(after, limit)
		snap.resp.AddressPool = gw.AddressPool
		body, err := encodeFull(snap, signer, der)
		if err != nil {
			return nil, err
		}
		return feedResponse(string(body)), nil
	}
	resp := snap.answer(der)
	resp.AddressPool = gw.AddressPool
	if resp.Signature, err = signer.sign(snap.records); err != nil {
		return nil, err
	}
	// The answer goes out as the raw body of the HTTP response, in Vault's
	// usual envelope: Vault then copies the bytes through instead of
	// decoding and re-encoding a full set of tens of thousands of peers.
	body, err := json.Marshal(peersEnvelope{&resp})
	if err != nil {
		return nil, fmt.Errorf("encode the peer feed: %w", err)
	}
	return feedResponse(string(body)), nil
}

// feedResponse is the raw HTTP response of a feed answer's body. The body
// goes as a string, not as []byte (rawResponse): the plugin SDK carries a
// response to Vault as JSON, where []byte becomes base64, which Vault
// then decodes from JSON and from base64 (http.respondRaw); a string is
// the JSON text escaped, a third fewer bytes for Vault's JSON decoder,
// and no base64. Vault's respondRaw tries a string as base64 first and
// takes it as it is when that fails, which it does at once for a body
// that starts with "{", as every answer does. Measured (bench P4's
// breakdown): Vault's CPU per full read of 10,000 peers in pages
// 127 → 115 ms, the plugin's 65 → 68 ms.
func feedResponse(body string) *logical.Response {
	return &logical.Response{Data: map[string]any{
		logical.HTTPStatusCode:  http.StatusOK,
		logical.HTTPContentType: "application/json",
		logical.HTTPRawBody:     body,
	}}
}

// parseCertificateFormat reads certificate_format: whether the peers
// carry their certificates as DER.
func parseCertificateFormat(s string) (bool, error) {
	switch s {
	case "", peerfeed.CertificatePEM:
		return false, nil
	case peerfeed.CertificateDER:
		return true, nil
	}
	return false, fmt.Errorf("%q is neither %s nor %s", s, peerfeed.CertificatePEM, peerfeed.CertificateDER)
}

// peersEnvelope is a peers answer in Vault's usual envelope ({"data": …}),
// as it goes out; encodeFull writes the same bytes for a full answer.
type peersEnvelope struct {
	Data *peerfeed.Response `json:"data"`
}

// parseIndex parses a revision index; empty is 0.
func parseIndex(s string) (uint64, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a revision number", s)
	}
	return n, nil
}

// parseAfter parses the serial a page starts after: empty, or a serial,
// and then only in a full read (index 0).
func parseAfter(s string, since uint64) (string, error) {
	if s == "" {
		return "", nil
	}
	serial, ok := normalizeSerial(s)
	if !ok {
		return "", fmt.Errorf("%q is not a certificate serial (colon-separated hex)", s)
	}
	if since != 0 {
		return "", fmt.Errorf("only with index 0: a page continues a full read")
	}
	return serial, nil
}

const pathGatewayPeersHelpSyn = `The gateway's peer set, for gateway daemons: full, or changes since an index, with long-poll.`

const pathGatewayPeersHelpDesc = `
Without index (or index=0), returns the full set of live peers of the gateway
and its revision index (full=true). With index=N, returns only what changed
since N: peers added (peers) and peers removed (removed), and the new index
(full=false); if N is too old or unknown (for example after the plugin
restarted), the full set instead. With wait and an up-to-date index, the
request blocks until something changes or the wait ends. A request is held
at most 1s whatever wait asks, so that it never delays a seal or a
step-down of Vault: an answer with the same index and no changes means
"nothing yet, poll again".
With limit=L the full set comes in pages of at most L peers (L at most 1000),
in serial order: each page names in next the serial to pass as after
(with index=0) for the following one, and the last page has no next. Pages
follow the live set as it is when each is read, so a reader keeps the index
of its first page and, once it has read the last, asks for the changes
since that index: they cover what moved while it paged (a peer added below
its cursor, a peer removed after its page was read). A removal may name a
peer the reader never saw. A delta is never paged.
Apply removed before peers. Each peer carries its certificate, which the
gateway verifies against the CA before trusting the peer: as PEM in
certificate, or with certificate_format=der as base64 DER in
certificate_der, without allowed_ips and expiration, which the certificate
holds (fewer bytes to carry and decode). An answer of at
most 1000 peers carries signature: the current CA's signature (key_id)
over "wg-gateway-feed-v1\x00" and the SHA-256 of each peer's certificate
DER in order (digests; zeros for a certificate of another CA), which
stands for the signatures of the certificates it lists.
`

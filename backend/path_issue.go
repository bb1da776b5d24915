package backend

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/helper/locksutil"
	"github.com/hashicorp/vault/sdk/logical"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/ippool"
	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/issuance"
	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/wgcert"
	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/wgkey"
	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/wgpolicy"
	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/wgquick"
)

// clockSkew is how far in the past a certificate's NotBefore is put.
const clockSkew = 30 * time.Second

func pathIssue(b *backend) []*framework.Path {
	return []*framework.Path{{
		Pattern: "issue/" + framework.GenericNameRegex("role"),
		DisplayAttrs: &framework.DisplayAttributes{
			OperationPrefix: operationPrefixWireGuard,
			OperationVerb:   "issue",
			OperationSuffix: "certificate",
		},
		Fields: map[string]*framework.FieldSchema{
			"role": {Type: framework.TypeString, Description: "The role to issue under.", Required: true},
			"public_key": {
				Type:        framework.TypeString,
				Description: "The device's WireGuard public key, base64. Required unless the role allows generated keys.",
			},
			"ttl": {
				Type:        framework.TypeDurationSecond,
				Description: "Lifetime of the certificate; the role's ttl when omitted, at most its max_ttl.",
			},
			fieldReplaces: {
				Type: framework.TypeString,
				Description: "Serial number of a live certificate of the caller's identity on the role's gateway that this one replaces: " +
					"the new certificate gets its addresses, and it is revoked once the new one is in place.",
			},
		},
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.UpdateOperation: &framework.PathOperation{Callback: b.pathIssueWrite},
		},
		HelpSynopsis:    pathIssueHelpSyn,
		HelpDescription: pathIssueHelpDesc,
	}}
}

// issueRequest is a validated issue request.
type issueRequest struct {
	role       *roleEntry
	gateway    *gatewayEntry
	ca         *caBundle
	publicKey  wgtypes.Key
	privateKey *wgtypes.Key // set when the engine generated the pair
	ttl        time.Duration
	caller     *caller
	now        time.Time // when it is issued, in whole seconds
	wgQuick    string    // the device's wg-quick file, rendered before the record is written
	replaces   string    // serial of the certificate it replaces, normalized; empty for none
	// destinations are the role's access policy, signed into the
	// certificate; allowedIPs the device's routes (roleEntry.routes).
	destinations []wgpolicy.Destination
	allowedIPs   []string
	warnings     []string // for the response
}

// fieldReplaces is the issue field naming the certificate a re-issue replaces.
const fieldReplaces = "replaces"

func (b *backend) pathIssueWrite(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	ir, resp, err := b.parseIssue(ctx, req, d)
	if resp != nil || err != nil {
		return resp, err
	}
	if err := b.reg.wait(ctx, req.Storage); err != nil {
		return nil, err
	}
	rec, resp, err := b.issue(ctx, req.Storage, ir)
	if resp != nil || err != nil {
		return resp, err
	}
	return b.issueResponse(ir, rec), nil
}

// parseIssue validates the request against the role, the gateway and the CA.
// A mistake of the caller comes back as an error response.
func (b *backend) parseIssue(ctx context.Context, req *logical.Request, d *framework.FieldData) (*issueRequest, *logical.Response, error) {
	roleName := d.Get("role").(string)
	role, err := b.getRole(ctx, req.Storage, roleName)
	if err != nil {
		return nil, nil, err
	}
	if role == nil {
		return nil, logical.ErrorResponse("role: unknown role %q", roleName), nil
	}
	gw, err := b.getGateway(ctx, req.Storage, role.Gateway)
	if err != nil {
		return nil, nil, err
	}
	if gw == nil {
		return nil, logical.ErrorResponse("gateway: role %q names unknown gateway %q", roleName, role.Gateway), nil
	}
	ca, err := b.getCA(ctx, req.Storage)
	if err != nil {
		return nil, nil, err
	}
	if ca == nil {
		return nil, logical.ErrorResponse("no CA is configured: write config/ca first"), nil
	}
	ir := &issueRequest{role: role, gateway: gw, ca: ca}
	if ir.destinations, err = role.destinations(); err != nil { // a role stored before its values were checked as they are now
		return nil, logical.ErrorResponse("%s: role %q: %v; write the role's %s again", fieldAllowedDestinations, roleName, err, fieldAllowedDestinations), nil
	}
	ir.allowedIPs = role.routes(gw, ir.destinations)

	if s := strings.TrimSpace(d.Get("public_key").(string)); s != "" {
		if ir.publicKey, err = wgkey.ParsePublic(s); err != nil {
			return nil, logical.ErrorResponse("public_key: %s", err), nil
		}
	} else {
		if !role.AllowGeneratedKeys {
			return nil, logical.ErrorResponse("public_key: is required (role %q does not allow generated keys)", roleName), nil
		}
		priv, pub, err := wgkey.Generate()
		if err != nil {
			return nil, nil, err
		}
		ir.privateKey, ir.publicKey = &priv, pub
	}

	if v := strings.TrimSpace(d.Get(fieldReplaces).(string)); v != "" {
		var ok bool
		if ir.replaces, ok = normalizeSerial(v); !ok {
			return nil, logical.ErrorResponse("replaces: %q is not a hex serial number", v), nil
		}
	}

	askedTTL, ttlAsked := d.GetOk("ttl")
	if ir.ttl, err = b.issueTTL(role, askedTTL, ttlAsked); err != nil {
		return nil, logical.ErrorResponse("ttl: %s", err), nil
	}
	ir.now = b.now().UTC().Truncate(time.Second)
	if ir.ttl, err = ca.leafTTL(ir.now, ir.ttl, ttlAsked); err != nil { // no leaf outlives its CA
		return nil, logical.ErrorResponse("ttl: %s", err), nil
	}
	if ir.caller, err = b.identify(req, role.CommonNameTemplate); err != nil {
		if errors.Is(err, errTemplate) {
			return nil, logical.ErrorResponse("%s", err), nil
		}
		return nil, nil, err
	}
	if err := checkCommonName(ir.caller.commonName); err != nil {
		return nil, logical.ErrorResponse("%s", err), nil
	}
	return ir, nil, nil
}

// issueTTL is the certificate's lifetime: the request's ttl (v, when
// asked) or the role's, within the role's max_ttl and the mount's maximum
// lease TTL.
func (b *backend) issueTTL(role *roleEntry, v any, asked bool) (time.Duration, error) {
	ttl := role.TTL
	if asked {
		ttl = time.Duration(v.(int)) * time.Second
		if ttl <= 0 {
			return 0, fmt.Errorf("must be positive")
		}
	}
	maxTTL := b.System().MaxLeaseTTL()
	if role.MaxTTL > 0 && role.MaxTTL < maxTTL {
		maxTTL = role.MaxTTL
	}
	if asked && ttl > maxTTL {
		return 0, fmt.Errorf("%s is longer than the role's max_ttl %s", ttl, maxTTL)
	}
	return min(ttl, maxTTL), nil
}

// issue signs the certificate and stores its record: one storage write.
func (b *backend) issue(ctx context.Context, s logical.Storage, ir *issueRequest) (*certRecord, *logical.Response, error) {
	serial, err := wgcert.NewSerial()
	if err != nil {
		return nil, nil, err
	}
	now := ir.now
	rec := &certRecord{
		SerialNumber: formatSerial(serial),
		PublicKey:    ir.publicKey.String(),
		CommonName:   ir.caller.commonName,
		Gateway:      ir.gateway.Name,
		Role:         ir.role.Name,
		Identity:     ir.caller.key,
		EntityID:     ir.caller.entityID,
		DisplayName:  ir.caller.displayName,
		AuthMounts:   ir.caller.authMounts,
		IssuedAt:     now,
		// Whole seconds, as the certificate encodes its NotAfter: the
		// lease ends with the certificate, not up to a second later.
		ExpiresAt:   now.Add(ir.ttl).Truncate(time.Second),
		IssuerKeyID: ir.ca.keyID,
		Replaces:    ir.replaces,
	}

	// With a limit, one identity's issues take turns, so that each counts
	// the certificates the one before it committed.
	if ir.role.MaxActivePerIdentity > 0 {
		lock := locksutil.LockForKey(b.identityLocks, rec.Identity)
		lock.Lock()
		defer lock.Unlock()
	}
	if resp, err := b.issueReserved(ctx, s, ir, rec, serial); resp != nil || err != nil {
		return nil, resp, err
	}
	b.retireReplaced(ctx, s, ir, rec)
	return rec, nil, nil
}

// retireReplaced revokes the certificate rec replaces, now that rec is in
// place. The gateways give the shared addresses to the newer certificate
// anyway, so a grace period would keep nothing working: the old one goes at
// once. If its revocation fails, rec stands (it is committed and its lease
// is about to be handed out) and the answer carries a warning: the old
// certificate then ends at its expiry or its own lease's revocation.
func (b *backend) retireReplaced(ctx context.Context, s logical.Storage, ir *issueRequest, rec *certRecord) {
	if rec.Replaces == "" {
		return
	}
	if err := b.revokeSerialAs(ctx, s, rec.Replaces, revocationNote{replacedBy: rec.SerialNumber}); err != nil {
		b.Logger().Error("could not revoke a replaced certificate", "serial", rec.Replaces, "replaced_by", rec.SerialNumber, "error", err)
		ir.warnings = append(ir.warnings, fmt.Sprintf("replaces: certificate %s could not be revoked (%v); revoke it again", rec.Replaces, err))
	}
}

// issueReserved reserves addresses, signs, revokes what the role's
// max_active_per_identity pushes out, writes the record and publishes it.
// The record's write is the last step that can fail, so a failure leaves no
// live certificate behind: nothing stays reserved and nothing was written
// but, at most, the revocation of certificates the limit pushed out.
func (b *backend) issueReserved(ctx context.Context, s logical.Storage, ir *issueRequest, rec *certRecord, serial *big.Int) (*logical.Response, error) {
	from, err := b.reg.reserve(ir.gateway, rec)
	if err != nil {
		switch {
		case errors.Is(err, errReplaces):
			return logical.ErrorResponse("%s", err), nil
		case errors.Is(err, errKeyInUse):
			return logical.ErrorResponse("public_key: %s", err), nil
		case errors.Is(err, ippool.ErrExhausted):
			return logical.ErrorResponse("address_pool: address pool exhausted for gateway %q", ir.gateway.Name), nil
		case isBlocked(err):
			return nil, blockedRefusal(err)
		}
		return nil, err
	}
	wgQuick, err := ir.wgQuickConfig(rec).Render()
	if err != nil {
		b.reg.abort(rec)
		return wgQuickRefusal(ir.gateway.Name, err), nil
	}
	ir.wgQuick = wgQuick
	der, err := wgcert.Create(&wgcert.Template{
		SerialNumber: serial,
		CommonName:   rec.CommonName,
		PublicKey:    ir.publicKey,
		Addresses:    rec.addrs(),
		Gateways:     []string{ir.gateway.Name},
		NotBefore:    notBefore(rec, from),
		NotAfter:     rec.ExpiresAt,
		Destinations: ir.destinations,
	}, ir.ca.cert, ir.ca.signer)
	if err != nil {
		b.reg.abort(rec)
		return nil, fmt.Errorf("sign certificate: %w", err)
	}
	rec.Certificate = bytes.Clone(der) // without the encoder's spare capacity: the registry keeps it
	for _, old := range b.reg.evictions(rec, ir.role.MaxActivePerIdentity) {
		if err := b.revokeSerial(ctx, s, old); err != nil {
			b.reg.abort(rec)
			return nil, fmt.Errorf("revoke %s past max_active_per_identity: %w", old, err)
		}
	}

	lock := locksutil.LockForKey(b.locks, rec.SerialNumber)
	lock.Lock()
	defer lock.Unlock()
	if err := putJSON(ctx, s, certStoragePrefix+rec.SerialNumber, rec); err != nil {
		b.reg.abort(rec)
		return nil, err
	}
	if err := b.reg.commit(rec); err != nil {
		return nil, b.revokeUncommitted(ctx, s, rec, err)
	}
	b.maybeFoldPacks(s)
	return nil, nil
}

// notBefore is the start of rec's validity: a little in the past for clock
// skew, and always after that of from, the certificate whose addresses rec
// shares, so that gateways can tell which of the two is newer (they give a
// shared address to the later NotBefore) even when both were issued within
// one second. It is never later than the issue itself: past some thirty
// re-issues of one address within the clock-skew allowance, two may start
// at the same second, and gateways then take the higher serial.
func notBefore(rec, from *certRecord) time.Time {
	nb := rec.IssuedAt.Add(-clockSkew)
	if from == nil {
		return nb
	}
	if c, err := x509.ParseCertificate(from.Certificate); err == nil && !nb.After(c.NotBefore) {
		nb = c.NotBefore.Add(time.Second)
		if nb.After(rec.IssuedAt) {
			nb = rec.IssuedAt
		}
	}
	return nb
}

// revokeUncommitted revokes rec, written but refused at commit by a block
// put while it was being issued, and returns the refusal.
func (b *backend) revokeUncommitted(ctx context.Context, s logical.Storage, rec *certRecord, refusal error) error {
	var note revocationNote
	var be *blockedError
	if errors.As(refusal, &be) {
		note = be.block.revocationNote()
	}
	revoked, err := b.putRevoked(ctx, s, rec, note)
	if err != nil {
		b.reg.abort(rec)
		return fmt.Errorf("revoke %s refused at commit (%v): %w", rec.SerialNumber, refusal, err)
	}
	b.reg.markRevoked(revoked)
	return blockedRefusal(refusal)
}

// wgQuickConfig is the device's wg-quick configuration for rec; the
// private key is there only when the engine generated it.
func (ir *issueRequest) wgQuickConfig(rec *certRecord) wgquick.Config {
	gw := ir.gateway
	conf := wgquick.Config{
		Comment: []string{
			fmt.Sprintf("WireGuard certificate %s for %s", rec.SerialNumber, rec.CommonName),
			fmt.Sprintf("gateway %s, valid until %s", gw.Name, rec.ExpiresAt.Format(time.RFC3339)),
		},
		Addresses: rec.Addresses,
		DNS:       gw.DNS,
		MTU:       gw.MTU,
		Peer: wgquick.Peer{
			PublicKey:           gw.PublicKey,
			Endpoint:            gw.Endpoint,
			AllowedIPs:          ir.allowedIPs,
			PersistentKeepalive: gw.PersistentKeepalive,
		},
	}
	if ir.privateKey != nil {
		conf.PrivateKey = ir.privateKey.String()
	}
	return conf
}

// wgQuickFields are the settings each key of a device's wg-quick file comes
// from.
var wgQuickFields = map[string]string{
	"comment": "common_name_template", "Address": "address_pool", "DNS": "dns", "MTU": "mtu",
	"PublicKey": "public_key", "Endpoint": "endpoint", "AllowedIPs": "allowed_ips",
	"PersistentKeepalive": "persistent_keepalive", "PrivateKey": "public_key",
}

// wgQuickRefusal is the answer when a value would not fit into a device's
// wg-quick file: a gateway stored before its values were checked as they
// are now (by an older version, or restored from a backup).
func wgQuickRefusal(gateway string, err error) *logical.Response {
	var ve *wgquick.ValueError
	if errors.As(err, &ve) && wgQuickFields[ve.Key] != "" {
		return logical.ErrorResponse("%s: gateway %q: %v; write the gateway's %s again", wgQuickFields[ve.Key], gateway, ve.Err, wgQuickFields[ve.Key])
	}
	return logical.ErrorResponse("gateway %q: %v", gateway, err)
}

// issueResponse is the secret handed to the device: its lease is the
// certificate's lifetime and cannot be renewed.
func (b *backend) issueResponse(ir *issueRequest, rec *certRecord) *logical.Response {
	gw := ir.gateway
	answer := issuance.Response{
		Certificate:         wgcert.EncodePEM(rec.Certificate),
		IssuingCA:           ir.ca.entry.Certificate,
		SerialNumber:        rec.SerialNumber,
		CommonName:          rec.CommonName,
		PublicKey:           rec.PublicKey,
		Addresses:           rec.Addresses,
		Gateway:             gw.Name,
		GatewayPublicKey:    gw.PublicKey,
		Endpoint:            gw.Endpoint,
		AllowedIPs:          ir.allowedIPs,
		AllowedDestinations: texts(ir.destinations),
		DNS:                 gw.DNS,
		MTU:                 gw.MTU,
		PersistentKeepalive: gw.PersistentKeepalive,
		Expiration:          rec.ExpiresAt.Unix(),
		WGQuick:             ir.wgQuick,
	}
	if ir.privateKey != nil {
		answer.PrivateKey = ir.privateKey.String()
	}

	resp := b.Secret(secretCertificateType).Response(answer.Data(), map[string]any{
		"serial_number": rec.SerialNumber,
		"gateway":       rec.Gateway,
		"public_key":    rec.PublicKey,
	})
	// The certificate's times are whole seconds from the second the issue
	// began; Vault counts the lease from now. So the lease is what is left
	// of the certificate, not ttl, which would outlive it by up to a
	// second (a client renewing at 90% of the lease then renews too late).
	// Never 0, which Vault reads as "the mount's default".
	resp.Secret.TTL = max(rec.ExpiresAt.Sub(b.now()), time.Second)
	resp.Secret.MaxTTL = resp.Secret.TTL
	resp.Secret.Renewable = false
	for _, w := range ir.warnings {
		resp.AddWarning(w)
	}
	return resp
}

const pathIssueHelpSyn = `Issue a certificate for a device's WireGuard key.`

const pathIssueHelpDesc = `
Issues a short-lived X.509 certificate whose subject public key is the
device's WireGuard key (public_key), assigns the device tunnel addresses from
the role's gateway's pools, and adds it to the gateway's peer set. The response
is a lease for the certificate's lifetime: revoking it, or its expiry, removes
the peer. wg_quick is a ready wg-quick configuration (fill in PrivateKey).
With allow_generated_keys, public_key may be omitted: the engine generates the
pair and returns private_key once, without storing it.

A device keeps its addresses across re-issues. With replaces=<serial> (a live
certificate of the same identity on the same gateway), the new certificate
gets that certificate's addresses and the old one is revoked as soon as the
new one is in place; anything else named there is refused. Without replaces,
a re-issue for the same key by the same identity gets the addresses of the
identity's newest live certificate for that key (what Vault Agent does when it
renders the template again before expiry). While two live certificates share
an address, it returns to the pool only when both have gone, and gateways
give it to the one with the later NotBefore.
`

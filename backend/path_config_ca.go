package backend

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/helper/locksutil"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/wgcert"
)

// defaultCATTL is the lifetime of a generated CA.
const defaultCATTL = 10 * 365 * 24 * time.Hour

// getCA returns the mount's CA, or nil when none is configured.
func (b *backend) getCA(ctx context.Context, s logical.Storage) (*caBundle, error) {
	return cached(ctx, b.config, b.config.ca, caStorageKey, loadCA, s)
}

// loadCA reads the CA set stored under key, or nil when there is none.
func loadCA(ctx context.Context, s logical.Storage, key string) (*caBundle, error) {
	var e caEntry
	ok, err := getJSON(ctx, s, key, &e)
	if err != nil || !ok {
		return nil, err
	}
	return parseCAEntry(&e)
}

func pathConfigCA(b *backend) []*framework.Path {
	return []*framework.Path{{
		Pattern: "config/ca",
		DisplayAttrs: &framework.DisplayAttributes{
			OperationPrefix: operationPrefixWireGuard,
		},
		Fields: map[string]*framework.FieldSchema{
			"key_type": {
				Type:        framework.TypeString,
				Description: `Key type of a generated CA: "ed25519" or "ec" (ECDSA P-256).`,
				Default:     "ed25519",
			},
			"common_name": {
				Type:        framework.TypeString,
				Description: "Common name of a generated CA.",
				Default:     "WireGuard CA",
			},
			"ttl": {
				Type:        framework.TypeDurationSecond,
				Description: "Lifetime of a generated CA.",
				Default:     int(defaultCATTL.Seconds()),
			},
			"pem_bundle": {
				Type:        framework.TypeString,
				Description: "A CA certificate and its private key (PKCS#8), PEM, to import instead of generating.",
			},
		},
		ExistenceCheck: b.pathConfigCAExists,
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.ReadOperation: &framework.PathOperation{
				Callback:     b.pathConfigCARead,
				DisplayAttrs: &framework.DisplayAttributes{OperationSuffix: "ca-configuration"},
			},
			logical.CreateOperation: &framework.PathOperation{
				Callback:     b.pathConfigCAWrite,
				DisplayAttrs: &framework.DisplayAttributes{OperationVerb: "configure", OperationSuffix: "ca"},
			},
			logical.UpdateOperation: &framework.PathOperation{
				Callback:     b.pathConfigCAWrite,
				DisplayAttrs: &framework.DisplayAttributes{OperationVerb: "configure", OperationSuffix: "ca"},
			},
		},
		HelpSynopsis:    pathConfigCAHelpSyn,
		HelpDescription: pathConfigCAHelpDesc,
	}}
}

func (b *backend) pathConfigCAExists(ctx context.Context, req *logical.Request, _ *framework.FieldData) (bool, error) {
	ca, err := b.getCA(ctx, req.Storage)
	return ca != nil, err
}

func (b *backend) pathConfigCARead(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	ca, err := b.getCA(ctx, req.Storage)
	if err != nil || ca == nil {
		return nil, err
	}
	return &logical.Response{Data: caResponseData(ca)}, nil
}

func (b *backend) pathConfigCAWrite(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	now := b.now()
	importing := d.Get("pem_bundle").(string) != ""
	next, resp, err := b.newAuthority(d, now)
	if resp != nil || err != nil {
		return resp, err
	}

	lock := locksutil.LockForKey(b.locks, caStorageKey)
	lock.Lock()
	defer lock.Unlock()
	old, err := b.getCA(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	entry := &caEntry{Certificate: next.certPEM, PrivateKey: next.keyPEM}
	if old != nil {
		if entry, err = old.rotated(next, now); err != nil {
			if importing && (errors.Is(err, errKeyReused) || errors.Is(err, wgcert.ErrInvalidCA)) {
				return logical.ErrorResponse("pem_bundle: %s", err), nil
			}
			return nil, err
		}
	}
	ca, err := b.putCA(ctx, req.Storage, entry)
	if err != nil {
		return nil, err
	}
	return &logical.Response{Data: caResponseData(ca)}, nil
}

// putCA stores entry as the mount's CA set and makes it current in memory.
// The caller holds the CA's lock.
func (b *backend) putCA(ctx context.Context, s logical.Storage, entry *caEntry) (*caBundle, error) {
	ca, err := parseCAEntry(entry)
	if err != nil {
		return nil, err
	}
	if err := putJSON(ctx, s, caStorageKey, entry); err != nil {
		return nil, err
	}
	store(b.config, b.config.ca, caStorageKey, ca)
	b.reg.markCRLDirty()
	return ca, nil
}

// newAuthority generates the new CA or parses the imported one.
func (b *backend) newAuthority(d *framework.FieldData, now time.Time) (*authority, *logical.Response, error) {
	var certDER, keyDER []byte
	if bundle := d.Get("pem_bundle").(string); bundle != "" {
		cert, signer, err := wgcert.ParseCABundle([]byte(bundle))
		if err != nil {
			return nil, logical.ErrorResponse("pem_bundle: %s", err), nil
		}
		if !now.Before(cert.NotAfter) {
			return nil, logical.ErrorResponse("pem_bundle: the CA expired at %s", cert.NotAfter.UTC().Format(time.RFC3339)), nil
		}
		if keyDER, err = x509.MarshalPKCS8PrivateKey(signer); err != nil {
			return nil, logical.ErrorResponse("pem_bundle: %s", err), nil
		}
		certDER = cert.Raw
	} else {
		keyType := d.Get("key_type").(string)
		if keyType != "ed25519" && keyType != "ec" {
			return nil, logical.ErrorResponse(`key_type: %q is not "ed25519" or "ec"`, keyType), nil
		}
		cn := strings.TrimSpace(d.Get("common_name").(string))
		if cn == "" {
			return nil, logical.ErrorResponse("common_name: must not be empty"), nil
		}
		ttl := time.Duration(d.Get("ttl").(int)) * time.Second
		if ttl <= 0 {
			return nil, logical.ErrorResponse("ttl: must be positive"), nil
		}
		var err error
		if certDER, keyDER, err = wgcert.GenerateCA(keyType, cn, now.Add(-time.Minute), now.Add(ttl)); err != nil {
			return nil, nil, fmt.Errorf("generate CA: %w", err)
		}
	}
	a, err := parseAuthority(wgcert.EncodePEM(certDER),
		string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})))
	if err != nil {
		return nil, nil, err
	}
	return a, nil, nil
}

const pathConfigCAHelpSyn = `Generate or import the CA that signs WireGuard certificates.`

const pathConfigCAHelpDesc = `
Writing generates a new CA (key_type "ed25519" or "ec", common_name, ttl) or
imports one from pem_bundle (a CA certificate and its PKCS#8 private key).
Replacing a CA (a rotation) keeps the previous CAs, with their keys, in
ca/pem and on crl/pem, so certificates issued before the rotation keep
verifying and each CA signs the CRL of its own certificates; every kept CA
that has not expired cross-signs the new one, so that gateways that pinned an
older CA can trust it. A new CA with the key of a kept one, or an expired
one, is refused. Drop a previous CA with config/ca/previous/:issuer_ref once
nothing live chains to it. Reading returns the CA certificates (issuers, with
the expiry of each); a private key is never returned.
`

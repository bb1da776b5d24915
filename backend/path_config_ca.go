package backend

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/wgcert"
)

// defaultCATTL is the lifetime of a generated CA.
const defaultCATTL = 10 * 365 * 24 * time.Hour

// caEntry is the stored CA.
type caEntry struct {
	// Certificate is the CA certificate, PEM.
	Certificate string `json:"certificate"`
	// PrivateKey is the CA key, PKCS#8 PEM. It is never returned.
	PrivateKey string `json:"private_key"`
	// Previous are earlier CA certificates (PEM) still served in ca/pem so
	// that gateways keep trusting certificates issued before a rotation.
	Previous []string `json:"previous,omitempty"`
}

// caBundle is a parsed caEntry.
type caBundle struct {
	entry  *caEntry
	cert   *x509.Certificate
	signer crypto.Signer
	// chainPEM is the current CA followed by the previous ones.
	chainPEM string
}

func parseCAEntry(e *caEntry) (*caBundle, error) {
	block, _ := pem.Decode([]byte(e.PrivateKey))
	if block == nil {
		return nil, fmt.Errorf("stored CA key is not PEM")
	}
	signer, err := wgcert.ParsePKCS8Signer(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("stored CA key: %w", err)
	}
	certs, err := wgcert.ParseCertificatesPEM([]byte(e.Certificate))
	if err != nil || len(certs) == 0 {
		return nil, fmt.Errorf("stored CA certificate: %v", err)
	}
	chain := []string{strings.TrimSpace(e.Certificate)}
	for _, p := range e.Previous {
		chain = append(chain, strings.TrimSpace(p))
	}
	return &caBundle{entry: e, cert: certs[0], signer: signer, chainPEM: strings.Join(chain, "\n") + "\n"}, nil
}

// getCA returns the mount's CA, or nil when none is configured.
func (b *backend) getCA(ctx context.Context, s logical.Storage) (*caBundle, error) {
	b.config.mu.RLock()
	ca := b.config.ca
	b.config.mu.RUnlock()
	if ca != nil {
		return ca, nil
	}
	var e caEntry
	ok, err := getJSON(ctx, s, caStorageKey, &e)
	if err != nil || !ok {
		return nil, err
	}
	ca, err = parseCAEntry(&e)
	if err != nil {
		return nil, err
	}
	b.config.mu.Lock()
	b.config.ca = ca
	b.config.mu.Unlock()
	return ca, nil
}

func pathConfigCA(b *backend) []*framework.Path {
	return []*framework.Path{{
		Pattern: "config/ca",
		DisplayAttrs: &framework.DisplayAttributes{
			OperationPrefix: "wireguard",
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
			logical.ReadOperation:   &framework.PathOperation{Callback: b.pathConfigCARead},
			logical.CreateOperation: &framework.PathOperation{Callback: b.pathConfigCAWrite},
			logical.UpdateOperation: &framework.PathOperation{Callback: b.pathConfigCAWrite},
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

func caResponseData(ca *caBundle) map[string]any {
	return map[string]any{
		"certificate":   ca.entry.Certificate,
		"ca_chain":      ca.chainPEM,
		"common_name":   ca.cert.Subject.CommonName,
		"serial_number": formatSerial(ca.cert.SerialNumber),
		"key_type":      keyTypeOf(ca.cert),
		"expiration":    ca.cert.NotAfter.Unix(),
	}
}

func keyTypeOf(c *x509.Certificate) string {
	if c.PublicKeyAlgorithm == x509.Ed25519 {
		return "ed25519"
	}
	return "ec"
}

func (b *backend) pathConfigCAWrite(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	var certPEM, keyPEM string
	if bundle := d.Get("pem_bundle").(string); bundle != "" {
		cert, signer, err := wgcert.ParseCABundle([]byte(bundle))
		if err != nil {
			return logical.ErrorResponse("pem_bundle: %s", err), nil
		}
		keyDER, err := x509.MarshalPKCS8PrivateKey(signer)
		if err != nil {
			return logical.ErrorResponse("pem_bundle: %s", err), nil
		}
		certPEM = wgcert.EncodePEM(cert.Raw)
		keyPEM = string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
	} else {
		keyType := d.Get("key_type").(string)
		if keyType != "ed25519" && keyType != "ec" {
			return logical.ErrorResponse(`key_type: %q is not "ed25519" or "ec"`, keyType), nil
		}
		cn := strings.TrimSpace(d.Get("common_name").(string))
		if cn == "" {
			return logical.ErrorResponse("common_name: must not be empty"), nil
		}
		ttl := time.Duration(d.Get("ttl").(int)) * time.Second
		if ttl <= 0 {
			return logical.ErrorResponse("ttl: must be positive"), nil
		}
		now := b.now()
		certDER, keyDER, err := wgcert.GenerateCA(keyType, cn, now.Add(-time.Minute), now.Add(ttl))
		if err != nil {
			return nil, fmt.Errorf("generate CA: %w", err)
		}
		certPEM = wgcert.EncodePEM(certDER)
		keyPEM = string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
	}

	entry := &caEntry{Certificate: certPEM, PrivateKey: keyPEM}
	old, err := b.getCA(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	if old != nil {
		entry.Previous = append([]string{old.entry.Certificate}, old.entry.Previous...)
	}
	ca, err := parseCAEntry(entry)
	if err != nil {
		return nil, err
	}
	if err := putJSON(ctx, req.Storage, caStorageKey, entry); err != nil {
		return nil, err
	}
	b.config.mu.Lock()
	b.config.ca = ca
	b.config.mu.Unlock()
	b.reg.markCRLDirty()
	return &logical.Response{Data: caResponseData(ca)}, nil
}

const pathConfigCAHelpSyn = `Generate or import the CA that signs WireGuard certificates.`

const pathConfigCAHelpDesc = `
Writing generates a new CA (key_type "ed25519" or "ec", common_name, ttl) or
imports one from pem_bundle (a CA certificate and its PKCS#8 private key).
Replacing a CA keeps the previous certificates in ca/pem, so gateways keep
trusting certificates issued before the rotation. Reading returns the CA
certificate; the private key is never returned.
`

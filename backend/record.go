package backend

import (
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"math/big"
	"net/netip"
	"strings"
	"time"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/peerfeed"
	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/wgcert"
)

// certRecord is the stored issuance record of one certificate, at
// certStoragePrefix + serial. It is written once when the certificate is
// issued and once more when it is revoked.
type certRecord struct {
	SerialNumber string    `json:"serial_number"`
	Certificate  []byte    `json:"certificate"` // DER
	PublicKey    string    `json:"public_key"`
	CommonName   string    `json:"common_name"`
	Addresses    []string  `json:"addresses"` // host prefixes: 10.77.0.2/32, fd77::2/128
	Gateway      string    `json:"gateway"`
	Role         string    `json:"role"`
	Identity     string    `json:"identity"` // what max_active_per_identity counts by
	EntityID     string    `json:"entity_id"`
	DisplayName  string    `json:"display_name"`
	AuthMounts   []string  `json:"auth_mounts,omitempty"`
	IssuedAt     time.Time `json:"issued_at"`
	ExpiresAt    time.Time `json:"expires_at"`
	RevokedAt    time.Time `json:"revoked_at,omitzero"`
	// RevokedBy, RevokedByEntityID and Block say who revoked the
	// certificate by blocking its identity, and by which block.
	RevokedBy         string `json:"revoked_by,omitempty"`
	RevokedByEntityID string `json:"revoked_by_entity_id,omitempty"`
	Block             string `json:"block,omitempty"`
	// Replaces is the serial of the certificate this one replaced (the
	// issue's replaces), whose addresses it kept; ReplacedBy, in that
	// certificate's record, is this one's serial once it was revoked for it.
	Replaces   string `json:"replaces,omitempty"`
	ReplacedBy string `json:"replaced_by,omitempty"`
	// IssuerKeyID is the key id of the CA that signed the certificate.
	// Records written before it was kept have none: issuerKeyID derives it.
	IssuerKeyID string `json:"issuer_key_id,omitempty"`
}

// revoked reports whether the certificate has been revoked.
func (r *certRecord) revoked() bool { return !r.RevokedAt.IsZero() }

// issuerKeyID is the key id of the CA that signed the certificate: the
// stored one, or for an older record its certificate's authority key id
// (empty when it has none).
func (r *certRecord) issuerKeyID() string {
	if r.IssuerKeyID != "" {
		return r.IssuerKeyID
	}
	c, err := x509.ParseCertificate(r.Certificate)
	if err != nil {
		return ""
	}
	return formatKeyID(c.AuthorityKeyId)
}

// destinations is the access policy the record's certificate was signed
// with, in canonical text: [] when it carries none. It is read from the
// certificate, which is what gateways enforce, not from the role, which may
// have changed since.
func (r *certRecord) destinations() ([]string, error) {
	c, err := wgcert.Parse(r.Certificate)
	if err != nil {
		return nil, fmt.Errorf("certificate %s: %w", r.SerialNumber, err)
	}
	return texts(c.Destinations), nil
}

// addrs parses the record's addresses.
func (r *certRecord) addrs() []netip.Addr {
	out := make([]netip.Addr, 0, len(r.Addresses))
	for _, a := range r.Addresses {
		if p, err := netip.ParsePrefix(a); err == nil {
			out = append(out, p.Addr())
		}
	}
	return out
}

// peer is the record as a gateway's peer feed shows it.
func (r *certRecord) peer() peerfeed.Peer {
	return peerfeed.Peer{
		SerialNumber: r.SerialNumber,
		PublicKey:    r.PublicKey,
		AllowedIPs:   r.Addresses,
		Certificate:  wgcert.EncodePEM(r.Certificate),
		Expiration:   r.ExpiresAt,
	}
}

// responseData is the record as cert/:serial shows it.
func (r *certRecord) responseData() map[string]any {
	d := map[string]any{
		"serial_number": r.SerialNumber,
		"certificate":   wgcert.EncodePEM(r.Certificate),
		"public_key":    r.PublicKey,
		"common_name":   r.CommonName,
		"addresses":     r.Addresses,
		"gateway":       r.Gateway,
		"role":          r.Role,
		"entity_id":     r.EntityID,
		"display_name":  r.DisplayName,
		"auth_mounts":   r.AuthMounts,
		"issued_at":     r.IssuedAt.UTC().Format(time.RFC3339),
		"expiration":    r.ExpiresAt.UTC().Format(time.RFC3339),
		"revoked":       r.revoked(),
		"revoked_at":    "",
		"issuer_key_id": r.issuerKeyID(),
		"revoked_by":    r.RevokedBy,
		"block":         r.Block,
		"replaces":      r.Replaces,
		"replaced_by":   r.ReplacedBy,
	}
	if r.RevokedByEntityID != "" {
		d["revoked_by_entity_id"] = r.RevokedByEntityID
	}
	if r.revoked() {
		d["revoked_at"] = r.RevokedAt.UTC().Format(time.RFC3339)
	}
	return d
}

// keyInfo is the record as a certs/ listing shows it, per serial.
func (r *certRecord) keyInfo() map[string]any {
	return map[string]any{
		"common_name": r.CommonName,
		"addresses":   r.Addresses,
		"gateway":     r.Gateway,
		"role":        r.Role,
		"entity_id":   r.EntityID,
		"public_key":  r.PublicKey,
		"expiration":  r.ExpiresAt.UTC().Format(time.RFC3339),
		"revoked":     r.revoked(),
	}
}

// formatSerial writes a serial as colon-separated lowercase hex, the form
// Vault's PKI engine uses.
func formatSerial(n *big.Int) string { return wgcert.FormatSerial(n) }

// writtenSerial is the serial s, which normalizeSerial accepts, as its
// caller wrote it (leading zero bytes kept) in the form formatSerial
// writes, for messages that quote it.
func writtenSerial(s string) string {
	h := strings.ToLower(stripSerial(s))
	if len(h)%2 == 1 {
		h = "0" + h
	}
	zeros := ""
	for ; strings.HasPrefix(h, "00"); h = h[2:] {
		zeros += "00:"
	}
	n, _ := new(big.Int).SetString(h, 16)
	return zeros + formatSerial(n)
}

// stripSerial is s without spaces around it and without separators.
func stripSerial(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(strings.TrimSpace(s), ":", ""), "-", "")
}

// normalizeSerial accepts a serial with colons, dashes or neither, in any
// case, and returns the form formatSerial writes; ok is false if it is not hex.
func normalizeSerial(s string) (string, bool) {
	h := stripSerial(s)
	if h == "" || len(h) > 64 {
		return "", false
	}
	n, ok := new(big.Int).SetString(h, 16)
	if !ok || n.Sign() <= 0 {
		return "", false
	}
	return formatSerial(n), true
}

// formatKeyID writes a key identifier as colon-separated lowercase hex,
// leading zeros kept.
func formatKeyID(id []byte) string {
	var sb strings.Builder
	for i, c := range id {
		if i > 0 {
			sb.WriteByte(':')
		}
		sb.WriteString(hex.EncodeToString([]byte{c}))
	}
	return sb.String()
}

package device

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"strings"
)

// maxCRLBytes bounds the CRL read: about a million revoked serials.
const maxCRLBytes = 64 << 20

// A RevocationList tells whether an operator revoked a certificate.
type RevocationList interface {
	// Revoked reports whether the certificate with serial (colon-separated
	// hex, as the engine writes it) is on the list.
	Revoked(ctx context.Context, serial string) (bool, error)
}

// Revoked reads the engine's CRL (<mount>/crl/pem, which needs no token)
// and reports whether serial is on it. The CRL comes over the same
// connection as every other answer of Vault; a forged one could only make
// the device enrol again.
func (s *VaultSource) Revoked(ctx context.Context, serial string) (bool, error) {
	client, err := s.api.Clone()
	if err != nil {
		return false, fmt.Errorf("vault client: %w", err)
	}
	client.ClearToken()
	resp, err := client.Logical().ReadRawWithContext(ctx, s.cfg.Mount+"/crl/pem")
	if resp != nil {
		defer resp.Body.Close()
	}
	if err != nil {
		return false, fmt.Errorf("read %s/crl/pem: %w", s.cfg.Mount, err)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxCRLBytes))
	if err != nil {
		return false, fmt.Errorf("read %s/crl/pem: %w", s.cfg.Mount, err)
	}
	return OnCRL(body, serial)
}

// OnCRL reports whether the PEM CRL pemText lists serial.
func OnCRL(pemText []byte, serial string) (bool, error) {
	want, ok := new(big.Int).SetString(strings.ReplaceAll(serial, ":", ""), 16)
	if !ok {
		return false, fmt.Errorf("serial %q is not hexadecimal", serial)
	}
	block, _ := pem.Decode(pemText)
	if block == nil || block.Type != "X509 CRL" {
		return false, fmt.Errorf("%w: crl/pem: not a PEM CRL", ErrBadResponse)
	}
	crl, err := x509.ParseRevocationList(block.Bytes)
	if err != nil {
		return false, fmt.Errorf("%w: crl/pem: %v", ErrBadResponse, err)
	}
	for _, e := range crl.RevokedCertificateEntries {
		if e.SerialNumber.Cmp(want) == 0 {
			return true, nil
		}
	}
	return false, nil
}

package gateway

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"slices"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/wgcert"
)

// loadCA sets the trusted CAs at start. With -ca-file they are the file's.
// Otherwise they are the CAs pinned in the state directory, which every
// full answer refreshes from the mount's ca/pem under AcceptRoots' rules
// (refreshCA); on first contact (no state
// file yet) the self-signed CAs of ca/pem are pinned as they are.
func (d *Daemon) loadCA(ctx context.Context) error {
	if d.cfg.CAFile != "" {
		return d.readCAFile()
	}
	pinned, err := readCAs(d.cfg.trustFile())
	switch {
	case err == nil:
		d.setRoots(pinned) // the first full answer refreshes them
		return nil
	case errors.Is(err, fs.ErrNotExist):
		return d.pinFirstContact(ctx)
	default:
		return fmt.Errorf("pinned CAs: %w", err)
	}
}

// readCAFile sets the trusted CAs to those of -ca-file.
func (d *Daemon) readCAFile() error {
	cas, err := readCAs(d.cfg.CAFile)
	if err != nil {
		return fmt.Errorf("CA file: %w", err)
	}
	d.setRoots(cas)
	return nil
}

// pinFirstContact trusts the self-signed CAs the mount serves now and pins
// them in the state file.
func (d *Daemon) pinFirstContact(ctx context.Context) error {
	bundle, err := d.fetchCAs(ctx)
	if err != nil {
		return err
	}
	var roots []*x509.Certificate
	for _, c := range bundle {
		if selfSigned(c) {
			roots = append(roots, c)
		}
	}
	if len(roots) == 0 {
		return fmt.Errorf("%s/ca/pem: %w: no self-signed CA certificate among %d", d.cfg.Mount, ErrNoCA, len(bundle))
	}
	path := d.cfg.trustFile()
	if err := writeCAs(path, roots); err != nil {
		return fmt.Errorf("pinning the CAs: %w", err)
	}
	d.logger.Warn("first contact: pinned the mount's CAs; a new CA is trusted from now on only when one of them cross-signs it",
		"file", path, "cas", len(roots))
	d.setRoots(roots)
	return nil
}

// refreshCA fetches ca/pem and trusts what AcceptRoots accepts of it,
// pinning the result. On any error it keeps the CAs it has.
func (d *Daemon) refreshCA(ctx context.Context) {
	bundle, err := d.fetchCAs(ctx)
	if err != nil {
		d.logger.Warn("refreshing the CA failed; keeping the CAs we trust", "error", err)
		d.metrics.vaultErrors.WithLabelValues("ca").Inc()
		return
	}
	u, err := AcceptRoots(d.now(), d.verifier.Roots, bundle)
	for _, r := range u.Refused {
		d.logger.Error("not trusting a CA of the mount's bundle", "subject", r.Cert.Subject.String(),
			"subject_key_id", keyID(r.Cert), "reason", r.Reason)
		d.metrics.caRefused.Inc()
	}
	if err != nil {
		d.logger.Error("the mount's CA bundle leaves nothing to trust; keeping the CAs we trust", "error", err)
		return
	}
	if slices.EqualFunc(u.Trusted, d.verifier.Roots, (*x509.Certificate).Equal) {
		return
	}
	if err := writeCAs(d.cfg.trustFile(), u.Trusted); err != nil {
		d.logger.Error("pinning the CAs failed; trusting them until the daemon stops", "error", err)
	}
	for _, c := range u.Added {
		d.logger.Info("trusting a new CA, cross-signed by a pinned one", "subject", c.Subject.String(),
			"subject_key_id", keyID(c))
	}
	for _, c := range u.Dropped {
		d.logger.Info("no longer trusting a CA the mount dropped", "subject", c.Subject.String(),
			"subject_key_id", keyID(c))
	}
	d.setRoots(u.Trusted)
}

// fetchCAs reads and parses the mount's ca/pem.
func (d *Daemon) fetchCAs(ctx context.Context) ([]*x509.Certificate, error) {
	pemText, err := d.vault.CABundle(ctx)
	if err != nil {
		return nil, fmt.Errorf("CA: %w", err)
	}
	bundle, err := wgcert.ParseCertificatesPEM(pemText)
	if err != nil {
		return nil, fmt.Errorf("%s/ca/pem: %w", d.cfg.Mount, err)
	}
	return bundle, nil
}

// setRoots makes roots the trusted CAs and exports when each expires.
func (d *Daemon) setRoots(roots []*x509.Certificate) {
	d.verifier.Roots = roots
	d.metrics.caExpiry.Reset()
	for _, c := range roots {
		d.metrics.caExpiry.WithLabelValues(keyID(c)).Set(float64(c.NotAfter.Unix()))
	}
}

// keyID names a CA in metrics and logs: its subject key identifier in hex,
// or for a CA without one, the first 20 bytes of the SHA-256 of its SPKI.
func keyID(c *x509.Certificate) string {
	if len(c.SubjectKeyId) > 0 {
		return fmt.Sprintf("%x", c.SubjectKeyId)
	}
	sum := sha256.Sum256(c.RawSubjectPublicKeyInfo)
	return fmt.Sprintf("%x", sum[:20])
}

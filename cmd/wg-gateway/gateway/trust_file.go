package gateway

import (
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/wgcert"
	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/cmd/internal/atomicfile"
)

// trustFile is where the daemon pins the CAs it trusts when no -ca-file
// is given: <state dir>/<gateway>.trust.pem.
func (c *Config) trustFile() string {
	return filepath.Join(c.StateDir, c.Gateway+".trust.pem")
}

// readCAs reads a PEM file of CA certificates. A file that does not exist
// is an error satisfying errors.Is(err, fs.ErrNotExist); one without a
// certificate is ErrNoCA.
func readCAs(path string) ([]*x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	cas, err := wgcert.ParseCertificatesPEM(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(cas) == 0 {
		return nil, fmt.Errorf("%s: %w", path, ErrNoCA)
	}
	return cas, nil
}

// writeCAs replaces path with the CAs as PEM.
func writeCAs(path string, cas []*x509.Certificate) error {
	var b strings.Builder
	for _, c := range cas {
		b.WriteString(wgcert.EncodePEM(c.Raw))
	}
	return writeAtomic(path, b.String())
}

// writeAtomic replaces path with content (see atomicfile.Write), mode
// 0644, creating the state directory when it is missing.
func writeAtomic(path, content string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return atomicfile.Write(path, []byte(content), 0o644)
}

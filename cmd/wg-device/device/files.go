package device

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
)

// Files installs grants as a wg-quick configuration file and the
// certificate beside it (PEMPath), both mode 0600 and replaced atomically.
type Files struct {
	// Config is the wg-quick file, e.g. /etc/wireguard/wg0.conf.
	Config string
}

// Install writes the certificate, then the configuration; it refuses a
// configuration with a value that does not fit its line (wgquick.ErrValue).
func (f Files) Install(_ context.Context, g *Grant) error {
	if err := writeFile0600(PEMPath(f.Config), []byte(g.Lease.Certificate)); err != nil {
		return err
	}
	text, err := g.Lease.WGQuick(g.Private).Render()
	if err != nil {
		return fmt.Errorf("write %s: %w", f.Config, err)
	}
	return writeFile0600(f.Config, []byte(text))
}

// writeFile0600 replaces path with data, mode 0600, through a temporary
// file in the same directory: a reader sees the old file or the new one.
func writeFile0600(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // no-op once renamed
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

package device

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/wgcert"
	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/cmd/internal/atomicfile"
)

// Files installs grants as a wg-quick configuration file and, beside it,
// the certificate (PEMPath) and the login token it was issued under
// (TokenPath), all mode 0600 and each replaced atomically.
//
// The token file is what lets a later wg-device retire the certificate
// that a new one replaces in these files: revoking the login token revokes
// its certificate (auth/token/revoke-self, in Vault's default policy),
// where revoking by serial would need the engine's revoke path, which a
// device's policy does not grant. The token can issue on the role until
// it ends, so it is kept as the private key is.
type Files struct {
	// Config is the wg-quick file, e.g. /etc/wireguard/wg0.conf.
	Config string
}

// tokenFile is the content of the token file.
type tokenFile struct {
	SerialNumber    string    `json:"serial_number"`
	LeaseID         string    `json:"lease_id"`
	Expiration      time.Time `json:"expiration"`
	Token           string    `json:"token"`
	TokenExpiration time.Time `json:"token_expiration,omitzero"`
}

// Prepare makes sure the files can be written before a certificate is
// asked for: it creates a missing directory (mode 0700), writes and
// removes a temporary file there, and checks that none of the three files
// is a directory.
func (f Files) Prepare(context.Context) error {
	dir := filepath.Dir(f.Config)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("-config %s: %w", f.Config, err)
	}
	for _, path := range []string{f.Config, PEMPath(f.Config), TokenPath(f.Config)} {
		if st, err := os.Stat(path); err == nil && st.IsDir() {
			return fmt.Errorf("-config %s: %s is a directory", f.Config, path)
		}
	}
	probe, err := os.CreateTemp(dir, "."+filepath.Base(f.Config)+".*")
	if err != nil {
		return fmt.Errorf("-config %s: %w", f.Config, err)
	}
	probe.Close()
	if err := os.Remove(probe.Name()); err != nil {
		return fmt.Errorf("-config %s: %w", f.Config, err)
	}
	return nil
}

// Replaced returns the grant whose certificate these files hold, which the
// next Install replaces, or nil when there is none. Its Token is empty when
// only the certificate is there (no token file beside it).
func (f Files) Replaced() (*Grant, error) {
	raw, err := os.ReadFile(TokenPath(f.Config))
	switch {
	case err == nil:
		var tf tokenFile
		// A person's login (-auth token) is not written down: no Token.
		if err := json.Unmarshal(raw, &tf); err != nil || tf.SerialNumber == "" {
			return nil, fmt.Errorf("%s: not a token file written by wg-device", TokenPath(f.Config))
		}
		return &Grant{
			Lease: &Lease{SerialNumber: tf.SerialNumber, LeaseID: tf.LeaseID, Expiration: tf.Expiration},
			Token: tf.Token, TokenEnd: tf.TokenExpiration,
		}, nil
	case !errors.Is(err, fs.ErrNotExist):
		return nil, err
	}
	pemText, err := os.ReadFile(PEMPath(f.Config))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	c, err := wgcert.ParsePEM(pemText)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", PEMPath(f.Config), err)
	}
	return &Grant{Lease: &Lease{SerialNumber: wgcert.FormatSerial(c.SerialNumber), Expiration: c.NotAfter}}, nil
}

// Install writes the certificate, the token file, then the configuration;
// it refuses a configuration with a value that does not fit its line
// (wgquick.ErrValue) before writing anything.
func (f Files) Install(_ context.Context, g *Grant) error {
	text, err := g.Lease.WGQuick(g.Private).Render()
	if err != nil {
		return fmt.Errorf("write %s: %w", f.Config, err)
	}
	token, err := json.MarshalIndent(tokenFile{
		SerialNumber: g.Lease.SerialNumber, LeaseID: g.Lease.LeaseID, Expiration: g.Lease.Expiration,
		Token: g.Token, TokenExpiration: g.TokenEnd,
	}, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.Write(PEMPath(f.Config), []byte(g.Lease.Certificate), 0o600); err != nil {
		return err
	}
	if err := atomicfile.Write(TokenPath(f.Config), append(token, '\n'), 0o600); err != nil {
		return err
	}
	return atomicfile.Write(f.Config, []byte(text), 0o600)
}

// TokenPath is where the login token of the certificate goes beside the
// wg-quick file conf: .conf replaced by .token (or .token added).
func TokenPath(conf string) string {
	return strings.TrimSuffix(conf, ".conf") + ".token"
}

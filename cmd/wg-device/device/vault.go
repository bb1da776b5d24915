package device

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/hashicorp/go-hclog"
	vault "github.com/hashicorp/vault/api"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/cmd/internal/vaultlogin"
)

// A Grant is a certificate and its private key, with the login it was
// issued under: Vault revokes the certificate when that login's token ends.
type Grant struct {
	Lease   *Lease
	Private wgtypes.Key
	// TokenEnd is when the login's token expires, as far as the device could
	// renew it; zero when it does not expire.
	TokenEnd time.Time
	// Token is the login token the certificate was issued under, for a
	// VaultSource: revoking it revokes the certificate. It can issue on the
	// role until it ends, so it is kept as the private key is.
	Token string
}

// A Source obtains certificates for the device's keys and retires them.
type Source interface {
	// Obtain logs in and has the engine certify public, as the successor
	// of the certificate with serial replaces (when not empty), whose
	// addresses it then keeps. Its errors are classified (see Transient
	// and the Err values).
	Obtain(ctx context.Context, public wgtypes.Key, replaces string) (*Grant, error)
	// Retire revokes g's certificate.
	Retire(ctx context.Context, g *Grant) error
}

// VaultSource obtains certificates from the engine, one login per
// certificate, and retires a certificate by revoking its login's token.
type VaultSource struct {
	api    *vault.Client // address and TLS; its token is never used
	cfg    *Config
	login  *vaultlogin.Login
	logger hclog.Logger
	now    func() time.Time
}

// NewVaultSource returns a Source talking to Vault through api.
func NewVaultSource(api *vault.Client, cfg *Config, logger hclog.Logger) *VaultSource {
	return &VaultSource{api: api, cfg: cfg, login: vaultlogin.New(cfg.Auth, logger), logger: logger, now: time.Now}
}

// Obtain logs in, issues a certificate for public on the role (replacing
// the certificate replaces names, if any) and renews the login's token to
// outlive the certificate where Vault allows it. When the engine refuses
// the replacement (that certificate was revoked or has ended meanwhile), it
// issues once more without it: the device then gets new addresses.
func (s *VaultSource) Obtain(ctx context.Context, public wgtypes.Key, replaces string) (*Grant, error) {
	g, err := s.obtain(ctx, public, replaces)
	if replaces != "" && errors.Is(err, ErrReplaceRefused) {
		s.logger.Warn("the engine refused to replace the current certificate; issuing a new one with new addresses",
			"replaces", replaces, "error", err)
		return s.obtain(ctx, public, "")
	}
	return g, err
}

func (s *VaultSource) obtain(ctx context.Context, public wgtypes.Key, replaces string) (*Grant, error) {
	client, err := s.api.Clone()
	if err != nil {
		return nil, fmt.Errorf("vault client: %w", err)
	}
	login, err := s.login.Login(ctx, client)
	if err != nil {
		if cerr := ClassifyTransport(client.Address(), s.cfg.VaultAddrSet, err); cerr != nil {
			return nil, cerr
		}
		return nil, err
	}

	path := s.cfg.Mount + "/issue/" + s.cfg.Role
	data := map[string]any{"public_key": public.String()}
	if replaces != "" {
		data["replaces"] = replaces
	}
	if s.cfg.TTL > 0 {
		data["ttl"] = int(s.cfg.TTL.Seconds())
	}
	sec, err := client.Logical().WriteWithContext(ctx, path, data)
	if err != nil {
		s.discard(client)
		if cerr := ClassifyTransport(client.Address(), s.cfg.VaultAddrSet, err); cerr != nil {
			return nil, cerr
		}
		return nil, ClassifyIssue(s.cfg.Mount, s.cfg.Role, err)
	}
	lease, err := ParseIssue(sec, public, s.now())
	if err != nil {
		s.discard(client)
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if s.personal() {
		s.sessionBound(login, lease)
		return &Grant{Lease: lease}, nil
	}
	return &Grant{Lease: lease, TokenEnd: s.extend(ctx, client, login, lease), Token: client.Token()}, nil
}

// personal reports whether the device uses a person's own Vault login
// (-auth token): that token is never renewed, revoked or written down by
// wg-device, and the certificate ends with it.
func (s *VaultSource) personal() bool {
	return s.cfg.Auth.Method == vaultlogin.Token
}

// sessionBound says when a person's login ends the certificate early: Vault
// revokes the certificate's lease with the token, and wg-device does not
// stretch a person's session by renewing it.
func (s *VaultSource) sessionBound(login *vault.Secret, lease *Lease) {
	if login.Auth.LeaseDuration <= 0 {
		return
	}
	end := s.now().Add(time.Duration(login.Auth.LeaseDuration) * time.Second)
	if end.Before(lease.Expires()) {
		s.logger.Warn("the certificate ends with your Vault login; log in again (vault login) to get a new one",
			"login_expires", end.Format(time.RFC3339), "certificate_expires", lease.Expiration.Format(time.RFC3339))
	}
}

// extend renews the login's token for the certificate's lifetime (and a
// minute), so that its expiry does not revoke the certificate early. It
// returns when the token ends; Vault may cap it at the token's max TTL.
func (s *VaultSource) extend(ctx context.Context, client *vault.Client, login *vault.Secret, lease *Lease) time.Time {
	ttl := login.Auth.LeaseDuration
	if login.Auth.Renewable {
		renewed, err := client.Auth().Token().RenewSelfWithContext(ctx, int((lease.TTL + time.Minute).Seconds()))
		if err == nil && renewed != nil && renewed.Auth != nil {
			ttl = renewed.Auth.LeaseDuration
		} else {
			s.logger.Warn("could not renew the login token", "error", err)
		}
	}
	if ttl <= 0 {
		return time.Time{}
	}
	end := s.now().Add(time.Duration(ttl) * time.Second)
	if end.Before(lease.Expires()) {
		s.logger.Warn("the login token ends before the certificate, and Vault revokes the certificate with it "+
			"(wg-device run replaces it in time): give the auth role a token_max_ttl of at least the certificate's ttl",
			"token_expires", end.Format(time.RFC3339), "certificate_expires", lease.Expiration.Format(time.RFC3339))
	}
	return end
}

// Retire revokes the login token g was issued under, which revokes its
// certificate's lease (auth/token/revoke-self is in Vault's default policy).
// A token past its end is revoked already.
//
// With a person's login (-auth token) the token is theirs and stays: the
// certificate's lease alone is revoked, with their token
// (sys/leases/revoke/<lease_id>, which their policy must allow).
func (s *VaultSource) Retire(ctx context.Context, g *Grant) error {
	if s.personal() {
		return s.revokeLease(ctx, g)
	}
	if g.Token == "" {
		return fmt.Errorf("%w: certificate %s", ErrNoToken, g.Lease.SerialNumber)
	}
	client, err := s.api.Clone()
	if err != nil {
		return fmt.Errorf("vault client: %w", err)
	}
	client.SetToken(g.Token)
	err = client.Auth().Token().RevokeSelfWithContext(ctx, "")
	if re, refused := vaultlogin.Refusal(err); refused && re.StatusCode == http.StatusForbidden {
		if !g.TokenEnd.IsZero() && !s.now().Before(g.TokenEnd) {
			return nil // the token has ended, and its leases with it
		}
		return fmt.Errorf("%w: auth/token/revoke-self (Vault said: %s): the auth role's tokens need Vault's default policy, "+
			"which allows it (do not set token_no_default_policy), or the replaced certificate %s stays valid until %s",
			ErrPermissionDenied, vaultlogin.Said(re), g.Lease.SerialNumber, g.Lease.Expiration.Format(time.RFC3339))
	}
	if err != nil {
		return fmt.Errorf("revoke the token of certificate %s: %w", g.Lease.SerialNumber, err)
	}
	return nil
}

// revokeLease revokes g's lease with the person's token.
func (s *VaultSource) revokeLease(ctx context.Context, g *Grant) error {
	if g.Lease.LeaseID == "" {
		return fmt.Errorf("%w: certificate %s: no lease id", ErrNoToken, g.Lease.SerialNumber)
	}
	client, err := s.api.Clone()
	if err != nil {
		return fmt.Errorf("vault client: %w", err)
	}
	if _, err := s.login.Login(ctx, client); err != nil {
		return err
	}
	if on, err := s.Revoked(ctx, g.Lease.SerialNumber); err == nil && on {
		return nil // the engine revoked it already (replaces=)
	}
	path := "sys/leases/revoke/" + g.Lease.LeaseID
	_, err = client.Logical().WriteWithContext(ctx, path, nil)
	if re, refused := vaultlogin.Refusal(err); refused && re.StatusCode == http.StatusForbidden {
		return fmt.Errorf("%w: %s (Vault said: %s): a policy with path \"sys/leases/revoke/%s/issue/%s/*\" { capabilities = [\"update\"] } lets your token revoke the certificates it replaced; "+
			"without it certificate %s stays valid until %s",
			ErrPermissionDenied, path, vaultlogin.Said(re), s.cfg.Mount, s.cfg.Role, g.Lease.SerialNumber, g.Lease.Expiration.Format(time.RFC3339))
	}
	if err != nil {
		return fmt.Errorf("revoke the lease of certificate %s: %w", g.Lease.SerialNumber, err)
	}
	return nil
}

// discard revokes a login that did not yield a certificate; a person's own
// login (-auth token) is left alone.
func (s *VaultSource) discard(client *vault.Client) {
	if s.personal() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := client.Auth().Token().RevokeSelfWithContext(ctx, ""); err != nil {
		s.logger.Debug("could not revoke an unused login token", "error", err)
	}
}

package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/hashicorp/go-hclog"
	vault "github.com/hashicorp/vault/api"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/peerfeed"
	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/cmd/internal/vaultlogin"
)

// A Vault is what the daemon asks of Vault: a login kept alive, the
// gateway's peer feed, the mount's CAs, and the status report.
// *VaultClient talks to a real Vault; tests hand in a fake.
type Vault interface {
	// Login logs in, retrying until it succeeds; it fails when ctx ends
	// first, with ctx's error, or when Vault refuses the credentials
	// (vaultlogin.Final), with an error naming what to fix.
	Login(ctx context.Context) error
	// KeepLoggedIn keeps the last login's token valid until ctx is done:
	// it renews the token and logs in again when the token can no longer
	// be renewed or Vault refused it. After Vault refused the credentials
	// it logs in again only after ForgetCredentials.
	KeepLoggedIn(ctx context.Context)
	// ForgetCredentials says the credential files may have changed (every
	// login reads them): a login Vault refused is tried again.
	ForgetCredentials()
	// Peers reads one answer of the gateway's feed as q asks: the
	// changes since q.Index, waiting up to q.Wait for one, or (Index 0)
	// the full set, a page of it when q.Limit is set. Each peer of the
	// answer is handed to each, in order, with the answer's fields that
	// come before the peers (head); the answer returned has no Peers. An
	// error of each ends the read with that error.
	Peers(ctx context.Context, q FeedQuery, each func(head *peerfeed.Response, p peerfeed.Peer) error) (*peerfeed.Response, error)
	// CABundle reads the mount's CA chain as PEM.
	CABundle(ctx context.Context) ([]byte, error)
	// Report writes st to the gateway's status.
	Report(ctx context.Context, st Status) error
}

var _ Vault = (*VaultClient)(nil)

// A FeedQuery is what one read of the peer feed asks for.
type FeedQuery struct {
	// Index is the revision the daemon has applied; 0 asks for the full
	// set.
	Index uint64
	// Wait is how long a read with Index waits for a change.
	Wait time.Duration
	// Limit, when not 0, pages a full answer: at most Limit peers, and
	// the answer's Next says where the next page starts.
	Limit int
	// After, with Index 0, is where the page starts: the previous page's
	// Next.
	After string
}

// A VaultClient is the daemon's Vault: AppRole login and renewal (a
// vaultlogin.Session), the peer feed, the CA and status reports, through a
// Vault API client.
type VaultClient struct {
	api     *vault.Client
	cfg     *Config
	logger  hclog.Logger
	session *vaultlogin.Session
}

// NewVaultClient returns the Vault of a daemon configured by cfg,
// reached through api (a client set up from the environment; its token
// is replaced by the login's).
func NewVaultClient(api *vault.Client, cfg *Config, logger hclog.Logger) *VaultClient {
	login := vaultlogin.New(cfg.Login(), logger)
	return &VaultClient{api: api, cfg: cfg, logger: logger,
		session: vaultlogin.NewSession(api, login, newBackoff(), logger)}
}

// Login logs in, retrying until it succeeds or ctx is done. A refusal
// (bad credentials, an unreadable credential file, no AppRole mount) is
// returned at once: retrying cannot help until someone fixes it.
func (v *VaultClient) Login(ctx context.Context) error { return v.session.Login(ctx) }

// KeepLoggedIn renews the token of the last login with a lifetime
// watcher and logs in again when it can no longer be renewed or Vault
// refused it; after a refused login, only once ForgetCredentials was called.
func (v *VaultClient) KeepLoggedIn(ctx context.Context) { v.session.KeepLoggedIn(ctx) }

// ForgetCredentials says the credential files may have changed: a login
// Vault refused is tried again.
func (v *VaultClient) ForgetCredentials() { v.session.CredentialsChanged() }

// Peers reads one answer of the feed as q asks (wait in whole seconds),
// decoding it as a stream (decodeFeed): however large the answer, the
// peers are handed to each one by one and not kept.
func (v *VaultClient) Peers(ctx context.Context, q FeedQuery, each func(*peerfeed.Response, peerfeed.Peer) error) (*peerfeed.Response, error) {
	// Certificates as DER: fewer bytes for Vault to carry and for the
	// daemon to decode. An engine that predates the choice ignores it and
	// sends PEM, which the verifier takes as well.
	params := map[string][]string{"certificate_format": {peerfeed.CertificateDER}}
	if q.Index > 0 {
		params["index"] = []string{strconv.FormatUint(q.Index, 10)}
		params["wait"] = []string{strconv.Itoa(int(q.Wait.Seconds())) + "s"}
	}
	if q.Limit > 0 {
		params["limit"] = []string{strconv.Itoa(q.Limit)}
	}
	if q.After != "" {
		params["after"] = []string{q.After}
	}
	path := fmt.Sprintf("%s/gateways/%s/peers", v.cfg.Mount, v.cfg.Gateway)
	resp, err := v.api.Logical().ReadRawWithDataWithContext(ctx, path, params)
	if err != nil {
		v.checkRefused(err)
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	defer resp.Body.Close()
	answer, err := decodeFeed(resp.Body, each)
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", path, err)
	}
	return answer, nil
}

// CABundle fetches the mount's CA chain.
func (v *VaultClient) CABundle(ctx context.Context) ([]byte, error) {
	path := v.cfg.Mount + "/ca/pem"
	resp, err := v.api.Logical().ReadRawWithContext(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	defer resp.Body.Close()
	return io.ReadAll(resp.Body)
}

// Report writes what the daemon applied to the gateway's status.
func (v *VaultClient) Report(ctx context.Context, st Status) error {
	path := fmt.Sprintf("%s/gateways/%s/status", v.cfg.Mount, v.cfg.Gateway)
	_, err := v.api.Logical().WriteWithContext(ctx, path, map[string]any{
		"instance_id":     v.cfg.InstanceID,
		"applied_index":   strconv.FormatUint(st.Index, 10),
		"peer_count":      st.Peers,
		"rejected":        st.Rejected,
		"version":         v.cfg.Version,
		"report_interval": reportInterval(v.cfg.ResyncInterval),
	})
	if err != nil {
		v.checkRefused(err)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// checkRefused tells the token keeper to log in again when err is
// Vault's 403.
func (v *VaultClient) checkRefused(err error) {
	var re *vault.ResponseError
	if errors.As(err, &re) && re.StatusCode == http.StatusForbidden {
		v.session.Refused()
	}
}

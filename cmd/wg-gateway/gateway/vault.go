package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	vault "github.com/hashicorp/vault/api"
	"github.com/hashicorp/vault/api/auth/approle"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/peerfeed"
)

// A Vault is what the daemon asks of Vault: a login kept alive, the
// gateway's peer feed, the mount's CAs, and the status report.
// *VaultClient talks to a real Vault; tests hand in a fake.
type Vault interface {
	// Login logs in, retrying until it succeeds; it fails only when ctx
	// ends first, with ctx's error.
	Login(ctx context.Context) error
	// KeepLoggedIn keeps the last login's token valid until ctx is done:
	// it renews the token and logs in again when the token can no longer
	// be renewed or Vault refused it.
	KeepLoggedIn(ctx context.Context)
	// ForgetCredentials makes the next login read the credential files
	// again.
	ForgetCredentials()
	// Peers reads the gateway's feed since index (0: the full set),
	// waiting up to wait for a change.
	Peers(ctx context.Context, index uint64, wait time.Duration) (*peerfeed.Response, error)
	// CABundle reads the mount's CA chain as PEM.
	CABundle(ctx context.Context) ([]byte, error)
	// Report writes st to the gateway's status.
	Report(ctx context.Context, st Status) error
}

var _ Vault = (*VaultClient)(nil)

// A VaultClient is the daemon's Vault: AppRole login and renewal, the
// peer feed, the CA and status reports, through a Vault API client.
type VaultClient struct {
	api    *vault.Client
	cfg    *Config
	logger hclog.Logger

	mu       sync.Mutex
	secretID string        // unwrapped secret id, when the file held a wrapping token
	secret   *vault.Secret // of the last login
	relogin  chan struct{}
}

// NewVaultClient returns the Vault of a daemon configured by cfg,
// reached through api (a client set up from the environment; its token
// is replaced by the login's).
func NewVaultClient(api *vault.Client, cfg *Config, logger hclog.Logger) *VaultClient {
	return &VaultClient{api: api, cfg: cfg, logger: logger, relogin: make(chan struct{}, 1)}
}

// login logs in with AppRole and sets the client's token.
func (v *VaultClient) login(ctx context.Context) (*vault.Secret, error) {
	roleID, err := readFile(v.cfg.RoleIDFile)
	if err != nil {
		return nil, fmt.Errorf("role id: %w", err)
	}
	secretID, err := v.loginSecretID(ctx)
	if err != nil {
		return nil, err
	}
	auth, err := approle.NewAppRoleAuth(roleID, &approle.SecretID{FromString: secretID},
		approle.WithMountPath(v.cfg.AppRoleMount))
	if err != nil {
		return nil, err
	}
	// The login goes through a clone without a token: the client the poll
	// and status loops share keeps its token, valid or not, until the new
	// one replaces it, and never sends a request with none.
	loginClient, err := v.api.CloneWithHeaders()
	if err != nil {
		return nil, fmt.Errorf("approle login: %w", err)
	}
	loginClient.ClearToken()
	secret, err := loginClient.Auth().Login(ctx, auth)
	if err != nil {
		return nil, fmt.Errorf("approle login: %w", err)
	}
	if secret == nil || secret.Auth == nil || secret.Auth.ClientToken == "" {
		return nil, errors.New("approle login: Vault returned no token")
	}
	v.api.SetToken(secret.Auth.ClientToken)
	return secret, nil
}

// loginSecretID reads the secret id file. A response-wrapping token in it
// is unwrapped (once: the unwrapped id is kept for later logins).
func (v *VaultClient) loginSecretID(ctx context.Context) (string, error) {
	content, err := readFile(v.cfg.SecretIDFile)
	if err != nil {
		return "", fmt.Errorf("secret id: %w", err)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.secretID != "" {
		return v.secretID, nil
	}
	lookup, err := v.api.Logical().WriteWithContext(ctx, "sys/wrapping/lookup", map[string]any{"token": content})
	if err != nil || lookup == nil {
		return content, nil // not a wrapping token: the secret id itself
	}
	unwrapped, err := v.api.Logical().UnwrapWithContext(ctx, content)
	if err != nil {
		return "", fmt.Errorf("unwrap secret id: %w", err)
	}
	id, _ := unwrapped.Data["secret_id"].(string)
	if id == "" {
		return "", errors.New("unwrap secret id: the wrapped response has no secret_id")
	}
	v.secretID = id
	v.logger.Info("unwrapped the response-wrapped secret id")
	return id, nil
}

// ForgetCredentials makes the next login read the secret id file again.
func (v *VaultClient) ForgetCredentials() {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.secretID = ""
}

// KeepLoggedIn renews the token of the last login with a lifetime
// watcher and logs in again when it can no longer be renewed or Vault
// refused it.
func (v *VaultClient) KeepLoggedIn(ctx context.Context) {
	v.mu.Lock()
	secret := v.secret
	v.mu.Unlock()
	for {
		watcher, err := v.api.NewLifetimeWatcher(&vault.LifetimeWatcherInput{Secret: secret})
		if err != nil {
			v.logger.Error("token renewal", "error", err)
			return
		}
		go watcher.Start()
		alive := v.watch(ctx, watcher)
		watcher.Stop()
		if !alive {
			return
		}
		if secret = v.loginRetry(ctx); secret == nil {
			return
		}
		v.mu.Lock()
		v.secret = secret
		v.mu.Unlock()
	}
}

// watch waits until the token cannot be renewed any more or Vault refused
// it; it reports false when ctx is done instead.
func (v *VaultClient) watch(ctx context.Context, w *vault.LifetimeWatcher) bool {
	for {
		select {
		case <-ctx.Done():
			return false
		case <-w.RenewCh():
		case err := <-w.DoneCh():
			if err != nil {
				v.logger.Warn("token renewal ended", "error", err)
			}
			return true
		case <-v.relogin:
			v.logger.Warn("Vault refused the token; logging in again")
			return true
		}
	}
}

// Login logs in until it succeeds or ctx is done.
func (v *VaultClient) Login(ctx context.Context) error {
	secret := v.loginRetry(ctx)
	if secret == nil {
		return ctx.Err()
	}
	v.mu.Lock()
	v.secret = secret
	v.mu.Unlock()
	return nil
}

// loginRetry logs in until it succeeds or ctx is done (then nil).
func (v *VaultClient) loginRetry(ctx context.Context) *vault.Secret {
	b := newBackoff()
	for {
		secret, err := v.login(ctx)
		if err == nil {
			v.logger.Info("logged in to Vault", "accessor", secret.Auth.Accessor)
			return secret
		}
		v.logger.Error("login failed", "error", err)
		if !b.Sleep(ctx) {
			return nil
		}
	}
}

// refused tells the token keeper that Vault answered 403.
func (v *VaultClient) refused() {
	select {
	case v.relogin <- struct{}{}:
	default:
	}
}

// Peers reads the gateway's feed since index, waiting up to wait (in
// whole seconds).
func (v *VaultClient) Peers(ctx context.Context, index uint64, wait time.Duration) (*peerfeed.Response, error) {
	params := map[string][]string{}
	if index > 0 {
		params["index"] = []string{strconv.FormatUint(index, 10)}
		params["wait"] = []string{strconv.Itoa(int(wait.Seconds())) + "s"}
	}
	path := fmt.Sprintf("%s/gateways/%s/peers", v.cfg.Mount, v.cfg.Gateway)
	resp, err := v.api.Logical().ReadRawWithDataWithContext(ctx, path, params)
	if err != nil {
		v.checkRefused(err)
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	defer resp.Body.Close()
	var body struct {
		Data peerfeed.Response `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, fmt.Errorf("decode %s: %w", path, err)
	}
	return &body.Data, nil
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
		"instance_id":   v.cfg.InstanceID,
		"applied_index": strconv.FormatUint(st.Index, 10),
		"peer_count":    st.Peers,
		"rejected":      st.Rejected,
		"version":       v.cfg.Version,
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
		v.refused()
	}
}

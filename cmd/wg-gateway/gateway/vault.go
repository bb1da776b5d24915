package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/hashicorp/go-hclog"
	vault "github.com/hashicorp/vault/api"
	"github.com/hashicorp/vault/api/auth/approle"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/peerfeed"
)

// vaultClient is the daemon's view of Vault: AppRole login and renewal,
// the peer feed, the CA and status reports.
type vaultClient struct {
	api    *vault.Client
	cfg    *Config
	logger hclog.Logger

	mu       sync.Mutex
	secretID string // unwrapped secret id, when the file held a wrapping token
	relogin  chan struct{}
}

func newVaultClient(api *vault.Client, cfg *Config, logger hclog.Logger) *vaultClient {
	return &vaultClient{api: api, cfg: cfg, logger: logger, relogin: make(chan struct{}, 1)}
}

// readFile returns a file's content without surrounding space.
func readFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// login logs in with AppRole and sets the client's token.
func (v *vaultClient) login(ctx context.Context) (*vault.Secret, error) {
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
func (v *vaultClient) loginSecretID(ctx context.Context) (string, error) {
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

// forgetSecretID makes the next login read the secret id file again.
func (v *vaultClient) forgetSecretID() {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.secretID = ""
}

// keepLoggedIn renews the token from a login with a lifetime watcher and
// logs in again when it can no longer be renewed or Vault refused it.
func (v *vaultClient) keepLoggedIn(ctx context.Context, secret *vault.Secret) {
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
	}
}

// watch waits until the token cannot be renewed any more or Vault refused
// it; it reports false when ctx is done instead.
func (v *vaultClient) watch(ctx context.Context, w *vault.LifetimeWatcher) bool {
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

// loginRetry logs in until it succeeds or ctx is done (then nil).
func (v *vaultClient) loginRetry(ctx context.Context) *vault.Secret {
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
func (v *vaultClient) refused() {
	select {
	case v.relogin <- struct{}{}:
	default:
	}
}

// peers reads the gateway's feed since index, waiting up to wait.
func (v *vaultClient) peers(ctx context.Context, index uint64, wait int) (*peerfeed.Response, error) {
	params := map[string][]string{}
	if index > 0 {
		params["index"] = []string{strconv.FormatUint(index, 10)}
		params["wait"] = []string{strconv.Itoa(wait) + "s"}
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

// caBundle fetches the mount's CA chain.
func (v *vaultClient) caBundle(ctx context.Context) ([]byte, error) {
	path := v.cfg.Mount + "/ca/pem"
	resp, err := v.api.Logical().ReadRawWithContext(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	defer resp.Body.Close()
	return io.ReadAll(resp.Body)
}

// report writes what the daemon applied to the gateway's status.
func (v *vaultClient) report(ctx context.Context, st status) error {
	path := fmt.Sprintf("%s/gateways/%s/status", v.cfg.Mount, v.cfg.Gateway)
	_, err := v.api.Logical().WriteWithContext(ctx, path, map[string]any{
		"instance_id":   v.cfg.InstanceID,
		"applied_index": strconv.FormatUint(st.index, 10),
		"peer_count":    st.peers,
		"rejected":      st.rejected,
		"version":       v.cfg.Version,
	})
	if err != nil {
		v.checkRefused(err)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func (v *vaultClient) checkRefused(err error) {
	var re *vault.ResponseError
	if errors.As(err, &re) && re.StatusCode == http.StatusForbidden {
		v.refused()
	}
}

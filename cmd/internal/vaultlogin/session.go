package vaultlogin

import (
	"context"
	"sync"

	"github.com/hashicorp/go-hclog"
	vault "github.com/hashicorp/vault/api"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/cmd/internal/backoff"
)

// A Session keeps one Vault client logged in, for a daemon that runs for
// long: it logs in, renews the token with Vault's lifetime watcher, and
// logs in again when the token can no longer be renewed or Vault refused
// it. A login Vault refuses (Final) is not tried again until
// CredentialsChanged says the credentials may have changed.
type Session struct {
	client *vault.Client
	login  *Login
	retry  backoff.Backoff
	logger hclog.Logger

	mu      sync.Mutex
	secret  *vault.Secret // of the last login
	refused chan struct{}
	changed chan struct{}
}

// NewSession returns a Session keeping client logged in with login,
// retrying failures that are not refusals after the delays of retry.
// client's token is replaced by each login's, and only once the login
// succeeded: requests sharing client never go out without a token.
func NewSession(client *vault.Client, login *Login, retry backoff.Backoff, logger hclog.Logger) *Session {
	return &Session{client: client, login: login, retry: retry, logger: logger,
		refused: make(chan struct{}, 1), changed: make(chan struct{}, 1)}
}

// Login logs in, retrying failures other than refusals until it succeeds
// or ctx is done (then it returns ctx's error). A refusal is returned at
// once: it names what to fix, and retrying cannot help.
func (s *Session) Login(ctx context.Context) error {
	secret, err := s.loginRetry(ctx)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.secret = secret
	s.mu.Unlock()
	return nil
}

// loginRetry logs in until it succeeds, Vault refuses or ctx is done.
func (s *Session) loginRetry(ctx context.Context) (*vault.Secret, error) {
	b := s.retry
	for {
		secret, err := s.loginOnce(ctx)
		if err == nil {
			s.logger.Info("logged in to Vault", "method", s.login.cfg.Method, "accessor", secret.Auth.Accessor)
			return secret, nil
		}
		if Final(err) {
			return nil, err
		}
		s.logger.Error("login failed", "error", err)
		if !b.Sleep(ctx) {
			return nil, ctx.Err()
		}
	}
}

// loginOnce logs in through a clone of the client, then gives the client
// the new token.
func (s *Session) loginOnce(ctx context.Context) (*vault.Secret, error) {
	lc, err := s.client.CloneWithHeaders()
	if err != nil {
		return nil, err
	}
	secret, err := s.login.Login(ctx, lc)
	if err != nil {
		return nil, err
	}
	s.client.SetToken(secret.Auth.ClientToken)
	return secret, nil
}

// KeepLoggedIn renews the token of the last login with a lifetime watcher
// and logs in again when it can no longer be renewed or Vault refused it,
// until ctx is done. After a refused login it logs the refusal and waits
// for CredentialsChanged before trying again.
func (s *Session) KeepLoggedIn(ctx context.Context) {
	s.mu.Lock()
	secret := s.secret
	s.mu.Unlock()
	for {
		watcher, err := s.client.NewLifetimeWatcher(&vault.LifetimeWatcherInput{Secret: secret})
		if err != nil {
			s.logger.Error("token renewal", "error", err)
			return
		}
		go watcher.Start()
		alive := s.watch(ctx, watcher)
		watcher.Stop()
		if !alive {
			return
		}
		if secret = s.relogin(ctx); secret == nil {
			return
		}
		s.mu.Lock()
		s.secret = secret
		s.mu.Unlock()
		select { // a 403 to the token just replaced
		case <-s.refused:
		default:
		}
	}
}

// relogin logs in again; after a refusal it waits for the credentials to
// change. It returns nil when ctx is done first.
func (s *Session) relogin(ctx context.Context) *vault.Secret {
	for {
		secret, err := s.loginRetry(ctx)
		if err == nil {
			return secret
		}
		if ctx.Err() != nil {
			return nil
		}
		s.logger.Error("Vault refused the login: not logging in again until the credentials are reloaded (SIGHUP)", "error", err)
		select {
		case <-ctx.Done():
			return nil
		case <-s.changed:
		}
	}
}

// watch waits until the token cannot be renewed any more or Vault refused
// it; it reports false when ctx is done instead.
func (s *Session) watch(ctx context.Context, w *vault.LifetimeWatcher) bool {
	for {
		select {
		case <-ctx.Done():
			return false
		case <-w.RenewCh():
		case err := <-w.DoneCh():
			if err != nil {
				s.logger.Warn("token renewal ended", "error", err)
			}
			return true
		case <-s.refused:
			s.logger.Warn("Vault refused the token; logging in again")
			return true
		}
	}
}

// Refused tells the session that Vault answered a request made with its
// token with 403: KeepLoggedIn logs in again. It never blocks.
func (s *Session) Refused() {
	select {
	case s.refused <- struct{}{}:
	default:
	}
}

// CredentialsChanged tells the session that the credential files may have
// changed: a login Vault refused is tried again. (Every login reads the
// files anyway.) It never blocks.
func (s *Session) CredentialsChanged() {
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

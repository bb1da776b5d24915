package vaultlogin

import (
	"context"
	"fmt"
	"os"
	"sync"

	"github.com/hashicorp/go-hclog"
	vault "github.com/hashicorp/vault/api"
	"github.com/hashicorp/vault/api/auth/approle"
	"github.com/hashicorp/vault/api/auth/kubernetes"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/cmd/internal/secretfile"
)

// A Login logs in to Vault as its Config says. It reads the credential
// files at every login, so rotated files (a projected service-account
// token, a new secret id) are picked up. Safe for concurrent use.
type Login struct {
	cfg    Config
	logger hclog.Logger

	mu       sync.Mutex
	wrapping string // the response-wrapping token last unwrapped
	secretID string // the secret id it held
}

// New returns a Login with cfg, logging through logger.
func New(cfg Config, logger hclog.Logger) *Login {
	return &Login{cfg: cfg, logger: logger}
}

// Config is the configuration the Login was made with.
func (l *Login) Config() *Config { return &l.cfg }

// Login logs client in and sets its token to the login's. client's own
// token is cleared first (a login sends none). A refusal is classified (see
// Final); other errors are worth retrying.
func (l *Login) Login(ctx context.Context, client *vault.Client) (*vault.Secret, error) {
	client.ClearToken()
	method, err := l.method(ctx, client)
	if err != nil {
		return nil, err
	}
	secret, err := client.Auth().Login(ctx, method)
	if err != nil {
		return nil, ClassifyLogin(&l.cfg, err)
	}
	return secret, nil
}

// method is the configured login, built afresh for every login so that
// rotated credential files are read again.
func (l *Login) method(ctx context.Context, client *vault.Client) (vault.AuthMethod, error) {
	c := &l.cfg
	switch c.Method {
	case AppRole:
		roleID, err := l.read("role id", c.RoleIDFile)
		if err != nil {
			return nil, err
		}
		secretID, err := l.appRoleSecretID(ctx, client)
		if err != nil {
			return nil, err
		}
		return approle.NewAppRoleAuth(roleID, &approle.SecretID{FromString: secretID}, approle.WithMountPath(c.AppRoleMount))
	case Kubernetes:
		jwt, err := l.read("service-account token", c.K8sTokenFile)
		if err != nil {
			return nil, err
		}
		return kubernetes.NewKubernetesAuth(c.K8sRole, kubernetes.WithServiceAccountToken(jwt), kubernetes.WithMountPath(c.K8sMount))
	case Cert:
		return certAuth{mount: c.CertMount, role: c.CertRole}, nil
	case Token:
		if c.TokenFromCLI {
			token, err := CLIToken(os.Getenv, os.UserHomeDir)
			if err != nil {
				return nil, err
			}
			return tokenAuth{token: token}, nil
		}
		token, err := l.read("token", c.TokenFile)
		if err != nil {
			return nil, err
		}
		return tokenAuth{token: token}, nil
	}
	return nil, fmt.Errorf("unknown auth method %q", c.Method)
}

// read reads the credential file what at path, warning when other users
// may read it.
func (l *Login) read(what, path string) (string, error) {
	s, err := secretfile.Read(path, l.logger)
	if err != nil {
		return "", fmt.Errorf("%w: %s: %v", ErrCredentialsUnreadable, what, err)
	}
	if s == "" {
		return "", fmt.Errorf("%w: %s: %s is empty", ErrCredentialsUnreadable, what, path)
	}
	return s, nil
}

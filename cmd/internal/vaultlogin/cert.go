package vaultlogin

import (
	"context"
	"fmt"

	"github.com/hashicorp/go-hclog"
	vault "github.com/hashicorp/vault/api"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/cmd/internal/secretfile"
)

// ConfigureTLS sets the client certificate and key of the Cert method on
// conf, the configuration of the Vault client the logins go through; for
// other methods it does nothing. It warns when other users may read the key.
func (c *Config) ConfigureTLS(conf *vault.Config, logger hclog.Logger) error {
	if c.Method != Cert {
		return nil
	}
	if err := conf.ConfigureTLS(&vault.TLSConfig{ClientCert: c.ClientCert, ClientKey: c.ClientKey}); err != nil {
		return fmt.Errorf("-client-cert/-client-key: %w", err)
	}
	secretfile.Check(c.ClientKey, logger)
	return nil
}

// certAuth logs in with Vault's TLS certificate auth method: the client
// certificate is the one on the HTTP client's TLS configuration.
type certAuth struct {
	mount string
	role  string // certificate role to match; empty lets Vault pick
}

// Login writes auth/<mount>/login, naming the certificate role if set.
func (c certAuth) Login(ctx context.Context, client *vault.Client) (*vault.Secret, error) {
	data := map[string]any{}
	if c.role != "" {
		data["name"] = c.role
	}
	return client.Logical().WriteWithContext(ctx, "auth/"+c.mount+"/login", data)
}

package device

import (
	"errors"
	"fmt"
	"time"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/cmd/internal/vaultlogin"
)

// Config is what the device is told by its flags and environment.
type Config struct {
	// Role is the engine role to issue under; Mount the engine's mount path.
	Role  string
	Mount string
	// TTL, if not 0, is the lifetime asked for (at most the role's max_ttl).
	TTL time.Duration

	// ConfigFile, if set, receives a complete wg-quick configuration (0600),
	// and beside it the certificate (.pem in place of .conf) and its login
	// token (.token).
	ConfigFile string
	// Interface, if set, is an existing WireGuard interface configured
	// directly: key, gateway peer, addresses and routes.
	Interface string

	// Auth says how to log in to Vault: vaultlogin.AppRole, Kubernetes,
	// Cert, or Token with TokenFromCLI (a person's own Vault login, from
	// VAULT_TOKEN or ~/.vault-token).
	Auth vaultlogin.Config
	// VaultAddrSet says whether VAULT_ADDR was set; if not, the Vault
	// client uses its default address, and error messages say so.
	VaultAddrSet bool

	// SwitchDelay is how long a rotation waits between issuing the new
	// certificate and switching the interface to it, for the gateways to
	// add the new key.
	SwitchDelay time.Duration
	// RetryFor bounds how long `issue` retries while Vault is unreachable;
	// `run` retries for as long as it runs.
	RetryFor time.Duration
	// CRLInterval is how often `run` reads the engine's CRL to notice that
	// an operator revoked its certificate (give or take a quarter, at
	// random); 0 does not look.
	CRLInterval time.Duration
}

// Validate reports the first missing or contradictory setting, naming its flag.
func (c *Config) Validate() error {
	switch {
	case c.Role == "":
		return errors.New("-role is required: the engine role to issue under")
	case c.Mount == "":
		return errors.New("-mount must not be empty")
	case c.ConfigFile == "" && c.Interface == "":
		return errors.New("-config or -interface is required: where to put the certificate")
	case c.TTL < 0:
		return errors.New("-ttl must not be negative")
	case c.SwitchDelay < 0:
		return errors.New("-switch-delay must not be negative")
	case c.CRLInterval < 0:
		return errors.New("-crl-interval must not be negative")
	}
	switch c.Auth.Method {
	case vaultlogin.AppRole, vaultlogin.Kubernetes, vaultlogin.Cert:
	case vaultlogin.Token:
		if !c.Auth.TokenFromCLI {
			return errors.New("-auth token takes the token from VAULT_TOKEN or ~/.vault-token (Auth.TokenFromCLI)")
		}
	default:
		return fmt.Errorf("-auth %q: want approle, kubernetes, cert or token", c.Auth.Method)
	}
	return c.Auth.Validate()
}

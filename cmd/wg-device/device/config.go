package device

import (
	"errors"
	"fmt"
	"time"
)

// The auth methods a device can log in with.
const (
	AuthAppRole    = "approle"
	AuthKubernetes = "kubernetes"
	AuthCert       = "cert"
)

// DefaultK8sTokenFile is where Kubernetes mounts a pod's service-account token.
const DefaultK8sTokenFile = "/var/run/secrets/kubernetes.io/serviceaccount/token"

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

	// Auth says how to log in to Vault.
	Auth AuthConfig
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
}

// AuthConfig says how the device logs in to Vault.
type AuthConfig struct {
	// Method is AuthAppRole, AuthKubernetes or AuthCert.
	Method string

	// AppRole: the mount and the files holding the role id and the secret
	// id (or a response-wrapping token for it).
	AppRoleMount string
	RoleIDFile   string
	SecretIDFile string

	// Kubernetes: the mount, the Vault role and the service-account token file.
	K8sMount     string
	K8sRole      string
	K8sTokenFile string

	// TLS certificate: the mount, the optional certificate role (name) and
	// the client certificate and key presented to Vault.
	CertMount  string
	CertRole   string
	ClientCert string
	ClientKey  string
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
	}
	return c.Auth.Validate()
}

// Validate reports what the chosen auth method lacks.
func (a *AuthConfig) Validate() error {
	switch a.Method {
	case AuthAppRole:
		if a.RoleIDFile == "" || a.SecretIDFile == "" {
			return errors.New("-auth approle needs -role-id-file and -secret-id-file")
		}
		if a.AppRoleMount == "" {
			return errors.New("-approle-mount must not be empty")
		}
	case AuthKubernetes:
		if a.K8sRole == "" {
			return errors.New("-auth kubernetes needs -k8s-role, the Vault role bound to the service account")
		}
		if a.K8sTokenFile == "" || a.K8sMount == "" {
			return errors.New("-k8s-token-file and -k8s-mount must not be empty")
		}
	case AuthCert:
		if a.ClientCert == "" || a.ClientKey == "" {
			return errors.New("-auth cert needs -client-cert and -client-key")
		}
		if a.CertMount == "" {
			return errors.New("-cert-mount must not be empty")
		}
	default:
		return fmt.Errorf("-auth %q: want approle, kubernetes or cert", a.Method)
	}
	return nil
}

package vaultlogin

import (
	"errors"
	"fmt"
)

// The auth methods a daemon can log in with.
const (
	AppRole    = "approle"
	Kubernetes = "kubernetes"
	Cert       = "cert"
	Token      = "token"
)

// DefaultK8sTokenFile is where Kubernetes mounts a pod's service-account token.
const DefaultK8sTokenFile = "/var/run/secrets/kubernetes.io/serviceaccount/token"

// Config says how to log in to Vault. The daemons' flags that set it share
// their names (-approle-mount, -role-id-file, …), which error messages cite.
type Config struct {
	// Method is AppRole, Kubernetes, Cert or Token.
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
	// the client certificate and key presented to Vault (see ConfigureTLS).
	CertMount  string
	CertRole   string
	ClientCert string
	ClientKey  string

	// Token: the file holding a Vault token; or, with TokenFromCLI, the
	// token the Vault CLI uses (see CLIToken).
	TokenFile    string
	TokenFromCLI bool
}

// Validate reports what the chosen auth method lacks, naming its flag.
func (c *Config) Validate() error {
	switch c.Method {
	case AppRole:
		if c.RoleIDFile == "" || c.SecretIDFile == "" {
			return errors.New("-auth approle needs -role-id-file and -secret-id-file")
		}
		if c.AppRoleMount == "" {
			return errors.New("-approle-mount must not be empty")
		}
	case Kubernetes:
		if c.K8sRole == "" {
			return errors.New("-auth kubernetes needs -k8s-role, the Vault role bound to the service account")
		}
		if c.K8sTokenFile == "" || c.K8sMount == "" {
			return errors.New("-k8s-token-file and -k8s-mount must not be empty")
		}
	case Cert:
		if c.ClientCert == "" || c.ClientKey == "" {
			return errors.New("-auth cert needs -client-cert and -client-key")
		}
		if c.CertMount == "" {
			return errors.New("-cert-mount must not be empty")
		}
	case Token:
		if c.TokenFile == "" && !c.TokenFromCLI {
			return errors.New("-auth token needs -token-file")
		}
	default:
		return fmt.Errorf("-auth %q: want approle, kubernetes, cert or token", c.Method)
	}
	return nil
}

// mount is the auth mount path of the method.
func (c *Config) mount() string {
	switch c.Method {
	case Kubernetes:
		return c.K8sMount
	case Cert:
		return c.CertMount
	case Token:
		return "token"
	}
	return c.AppRoleMount
}

// mountFlag is the flag that sets the method's mount; empty for the token
// method, whose mount is fixed.
func (c *Config) mountFlag() string {
	switch c.Method {
	case Kubernetes:
		return "k8s-mount"
	case Cert:
		return "cert-mount"
	case Token:
		return ""
	}
	return "approle-mount"
}

// loginHint says what to check when the method refused the login.
func (c *Config) loginHint() string {
	switch c.Method {
	case Kubernetes:
		return fmt.Sprintf("check that the service account of %s is bound to Vault role %q (bound_service_account_names and _namespaces of auth/%s/role/%s) and that the token is current",
			c.K8sTokenFile, c.K8sRole, c.K8sMount, c.K8sRole)
	case Cert:
		role := "any certificate role"
		if c.CertRole != "" {
			role = fmt.Sprintf("certificate role %q", c.CertRole)
		}
		return fmt.Sprintf("check that %s is current and signed by a CA that %s of auth/%s trusts",
			c.ClientCert, role, c.CertMount)
	case Token:
		if c.TokenFromCLI {
			return "the token of VAULT_TOKEN or ~/.vault-token may be wrong, expired or revoked: log in again (vault login -method=...)"
		}
		return fmt.Sprintf("check %s: the token may be wrong, expired or revoked", c.TokenFile)
	}
	return fmt.Sprintf("check %s and %s: the secret id may be wrong, expired or used up, or a wrapping token already unwrapped — ask for a new secret id",
		c.RoleIDFile, c.SecretIDFile)
}

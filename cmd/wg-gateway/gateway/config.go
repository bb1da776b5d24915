package gateway

import (
	"errors"
	"strings"
	"time"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/cmd/internal/vaultlogin"
)

// Config is what the daemon is told by its flags and environment.
type Config struct {
	// Gateway is the gateway's name in the engine.
	Gateway string
	// Mount is the engine's mount path, without slashes.
	Mount string
	// Interface is the WireGuard interface the daemon owns.
	Interface string
	// PrivateKeyFile, if set, holds the interface's private key (base64);
	// ListenPort, if not 0, is its UDP port. Both are set at start and on
	// reload.
	PrivateKeyFile string
	ListenPort     int

	// AppRoleMount is the AppRole auth mount path.
	AppRoleMount string
	// RoleIDFile and SecretIDFile hold the AppRole credentials. The secret
	// id may be a response-wrapping token, which is unwrapped once.
	RoleIDFile   string
	SecretIDFile string

	// CAFile, if set, is the trusted CA bundle (PEM), read at start and on
	// SIGHUP. Empty pins the mount's CAs in StateDir on first contact and
	// trusts a new CA of ca/pem only when a pinned one cross-signs it.
	CAFile string
	// StateDir holds what the daemon pins: without CAFile the CAs it
	// trusts (<gateway>.trust.pem), with KeepUnmanaged the address pools
	// it manages (<gateway>.pools).
	StateDir string

	// MetricsAddr is where /metrics and /healthz listen; empty disables.
	MetricsAddr string
	// ResyncInterval is how often the full peer set is fetched and the
	// interface re-read, as a safety net under the change feed.
	ResyncInterval time.Duration
	// PollWait is how long one long-poll waits for a change.
	PollWait time.Duration
	// KeepUnmanaged keeps peers the daemon did not configure: those with no
	// allowed IP inside the gateway's address pools.
	KeepUnmanaged bool
	// InstanceID names this daemon in the gateway's status.
	InstanceID string
	// StatusInterval is the least time between two status reports, but
	// for those following a removal (removalReportGap).
	StatusInterval time.Duration
	// Firewall is how access policies are enforced: "nftables" (a table
	// of the daemon's own) or "off" (certificates carrying a policy are
	// rejected). Empty is nftables.
	Firewall string
	// Version is reported in the status.
	Version string
}

// Login is how the daemon logs in to Vault: AppRole, with the mount and
// the files of the flags.
func (c *Config) Login() vaultlogin.Config {
	return vaultlogin.Config{Method: vaultlogin.AppRole, AppRoleMount: c.AppRoleMount,
		RoleIDFile: c.RoleIDFile, SecretIDFile: c.SecretIDFile}
}

// Validate reports the first missing or bad setting, naming its flag.
func (c *Config) Validate() error {
	switch {
	case c.Gateway == "":
		return errors.New("-gateway is required")
	case strings.ContainsAny(c.Gateway, `/\`) || strings.HasPrefix(c.Gateway, "."):
		return errors.New("-gateway must not contain a slash or start with a dot")
	case c.Interface == "":
		return errors.New("-interface is required")
	case c.RoleIDFile == "" || c.SecretIDFile == "":
		return errors.New("-role-id-file and -secret-id-file are required")
	case c.ResyncInterval <= 0:
		return errors.New("-resync-interval must be positive")
	case c.PollWait < time.Second || c.PollWait > 60*time.Second:
		// The feed takes whole seconds: less than one would be wait=0s,
		// and the daemon would poll in a loop.
		return errors.New("-poll-wait must be between 1s and 60s")
	case c.CAFile == "" && c.StateDir == "":
		return errors.New("-state-dir is required without -ca-file (it keeps the pinned CAs)")
	case c.KeepUnmanaged && c.StateDir == "":
		return errors.New("-state-dir is required with -keep-unmanaged (it keeps the managed pools)")
	case c.Firewall != "" && c.Firewall != "nftables" && c.Firewall != "off":
		return errors.New("-firewall must be nftables or off")
	case c.InstanceID == "":
		return errors.New("-instance-id is required")
	}
	return nil
}

// Command wg-device gets a device onto a WireGuard gateway with a
// certificate from the WireGuard secrets engine: it logs in to Vault
// (AppRole, Kubernetes or a TLS client certificate), generates its own key,
// and writes a wg-quick file or configures an interface directly.
//
//	wg-device issue -role ROLE -config /etc/wireguard/wg0.conf [auth flags]
//	wg-device run   -role ROLE -interface wg0 [auth flags]
//
// issue gets one certificate; run stays up, rotates before expiry, and
// enrols again when an operator revoked its certificate (it reads the
// engine's CRL every -crl-interval), but stops when its identity is blocked.
// Every flag has an environment equivalent (package envflag): -role is
// WG_DEVICE_ROLE. The standard Vault client variables (VAULT_ADDR,
// VAULT_CACERT, VAULT_NAMESPACE, …) are honoured.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	vault "github.com/hashicorp/vault/api"
	"golang.zx2c4.com/wireguard/wgctrl"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/cmd/internal/envflag"
	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/cmd/internal/vaultlogin"
	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/cmd/wg-device/device"
)

// version is set at build time with -ldflags "-X main.version=v0.1.0".
var version = "v0.0.0-dev"

const envPrefix = "WG_DEVICE_"

const synopsis = `Usage: wg-device issue|run -role ROLE (-config FILE | -interface IFACE) [auth flags]
       wg-device -version | -h

  issue  get one certificate for a key made here; write FILE (wg-quick, 0600)
         with the certificate (.pem) and its login token (.token) beside it,
         and/or configure IFACE
  run    the same, then stay up and rotate before expiry: new key, new
         certificate, switch, revoke the old one

Auth: -auth approle   -role-id-file F -secret-id-file F [-approle-mount approle]
      -auth kubernetes -k8s-role R [-k8s-token-file F] [-k8s-mount kubernetes]
      -auth cert       -client-cert F -client-key F [-cert-role R] [-cert-mount cert]
      -auth token      your own Vault login: VAULT_TOKEN, else ~/.vault-token
                       (vault login -method=oidc, ldap, …); the certificate
                       ends with it
Vault is reached through VAULT_ADDR, VAULT_CACERT, VAULT_NAMESPACE and the other standard variables.`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, synopsis)
		return 2
	}
	cmd := args[0]
	switch cmd {
	case "issue", "run":
	case "version", "-version", "--version":
		fmt.Fprintln(stdout, "wg-device", version)
		return 0
	case "help", "-h", "-help", "--help":
		fs, _ := newFlagSet("wg-device", stdout)
		fs.Usage()
		return 0
	default:
		fmt.Fprintf(stderr, "wg-device: unknown command %q (wg-device -h lists commands and flags)\n\n%s\n", cmd, synopsis)
		return 2
	}

	fs, o := newFlagSet("wg-device "+cmd, stderr)
	cfg := &o.cfg
	if err := envflag.Parse(fs, args[1:], envPrefix); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		fmt.Fprintln(stderr, "wg-device:", err)
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "wg-device: unexpected arguments %q\n", fs.Args())
		return 2
	}
	cfg.Auth.TokenFromCLI = cfg.Auth.Method == vaultlogin.Token
	if err := cfg.Validate(); err != nil {
		fmt.Fprintln(stderr, "wg-device:", err)
		return 2
	}

	logger := hclog.New(&hclog.LoggerOptions{
		Name: "wg-device", Level: hclog.LevelFromString(o.logLevel), JSONFormat: o.logJSON, Output: stderr,
	})
	cfg.VaultAddrSet = os.Getenv(vault.EnvVaultAddress) != ""
	d, closeAll, err := newDevice(cfg, logger)
	if err != nil {
		fmt.Fprintln(stderr, "wg-device:", err)
		return 1
	}
	defer closeAll()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if cmd == "issue" {
		g, err := d.Issue(ctx)
		if err != nil {
			fmt.Fprintln(stderr, "wg-device:", err)
			return exitCode(err)
		}
		printGrant(stdout, cfg, g)
		return 0
	}
	logger.Info("starting", "version", version, "role", cfg.Role, "auth", cfg.Auth.Method,
		"interface", cfg.Interface, "config", cfg.ConfigFile)
	if err := d.Run(ctx); err != nil {
		fmt.Fprintln(stderr, "wg-device:", err)
		return exitCode(err)
	}
	return 0
}

// exitCode is 2 for a mistake in the device's own settings, 1 for any
// other failure.
func exitCode(err error) int {
	var ce *device.ConfigError
	if errors.As(err, &ce) {
		return 2
	}
	return 1
}

// options is what the flags set.
type options struct {
	cfg      device.Config
	logLevel string
	logJSON  bool
}

// newFlagSet declares every flag of the issue and run commands; its Usage
// prints the synopsis and each flag with its environment variable to out.
func newFlagSet(name string, out io.Writer) (*flag.FlagSet, *options) {
	o := &options{}
	cfg := &o.cfg
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&cfg.Role, "role", "", "role of the WireGuard secrets engine to issue under (required)")
	fs.StringVar(&cfg.Mount, "mount", "wg", "mount path of the secrets engine")
	fs.DurationVar(&cfg.TTL, "ttl", 0, "certificate lifetime to ask for; 0 takes the role's ttl")
	fs.StringVar(&cfg.ConfigFile, "config", "", "wg-quick file to write (0600); the certificate and its login token go beside it, with .pem and .token for .conf")
	fs.StringVar(&cfg.Interface, "interface", "", "existing WireGuard interface to configure directly (key, gateway peer, addresses, routes)")
	fs.StringVar(&cfg.Auth.Method, "auth", vaultlogin.AppRole, "how to log in to Vault: approle, kubernetes, cert, or token (your own login: VAULT_TOKEN, else ~/.vault-token as `vault login` left it)")
	fs.StringVar(&cfg.Auth.AppRoleMount, "approle-mount", "approle", "mount path of the AppRole auth method")
	fs.StringVar(&cfg.Auth.RoleIDFile, "role-id-file", "", "file with the AppRole role_id")
	fs.StringVar(&cfg.Auth.SecretIDFile, "secret-id-file", "", "file with the AppRole secret_id, or a response-wrapping token for it")
	fs.StringVar(&cfg.Auth.K8sMount, "k8s-mount", "kubernetes", "mount path of the Kubernetes auth method")
	fs.StringVar(&cfg.Auth.K8sRole, "k8s-role", "", "Vault role of the Kubernetes auth method bound to this service account")
	fs.StringVar(&cfg.Auth.K8sTokenFile, "k8s-token-file", vaultlogin.DefaultK8sTokenFile, "file with the service-account token")
	fs.StringVar(&cfg.Auth.CertMount, "cert-mount", "cert", "mount path of the TLS certificate auth method")
	fs.StringVar(&cfg.Auth.CertRole, "cert-role", "", "certificate role to log in with; empty lets Vault match any")
	fs.StringVar(&cfg.Auth.ClientCert, "client-cert", "", "PEM client certificate presented to Vault (for -auth cert)")
	fs.StringVar(&cfg.Auth.ClientKey, "client-key", "", "PEM key of -client-cert")
	fs.DurationVar(&cfg.SwitchDelay, "switch-delay", 2*time.Second, "run: wait between issuing a new certificate and switching to it, for the gateways to add the key")
	fs.DurationVar(&cfg.CRLInterval, "crl-interval", 30*time.Second, "run: how often to read the engine's CRL (give or take a quarter) to notice that an operator revoked the certificate; 0: never")
	fs.DurationVar(&cfg.RetryFor, "retry-for", 30*time.Second, "issue: how long to retry while Vault is unreachable")
	fs.StringVar(&o.logLevel, "log-level", "info", "log level: trace, debug, info, warn, error")
	fs.BoolVar(&o.logJSON, "log-json", false, "log as JSON")
	fs.Usage = envflag.Usage(fs, envPrefix, synopsis)
	return fs, o
}

// newDevice wires the configuration to Vault, the files and the interface.
func newDevice(cfg *device.Config, logger hclog.Logger) (*device.Device, func(), error) {
	conf := vault.DefaultConfig()
	if conf.Error != nil {
		return nil, nil, fmt.Errorf("vault client: %w", conf.Error)
	}
	conf.CheckRetry = device.RetryPolicy
	if err := cfg.Auth.ConfigureTLS(conf, logger); err != nil {
		return nil, nil, err
	}
	api, err := vault.NewClient(conf)
	if err != nil {
		return nil, nil, fmt.Errorf("vault client: %w", err)
	}
	if !cfg.VaultAddrSet {
		logger.Warn("VAULT_ADDR is not set: using Vault's default " + api.Address())
	}
	source := device.NewVaultSource(api, cfg, logger)
	d := &device.Device{
		Source:      source,
		Revocations: source,
		SwitchDelay: cfg.SwitchDelay,
		RetryFor:    cfg.RetryFor,
		Backoff:     device.DefaultBackoff(),
		CRLInterval: cfg.CRLInterval,
		Logger:      logger,
	}
	closeAll := func() {}
	if cfg.ConfigFile != "" {
		d.Sinks = append(d.Sinks, device.Files{Config: cfg.ConfigFile})
	}
	if cfg.Interface != "" {
		wg, err := wgctrl.New()
		if err != nil {
			return nil, nil, fmt.Errorf("wgctrl: %w", err)
		}
		closeAll = func() { _ = wg.Close() }
		d.Sinks = append(d.Sinks, &device.Interface{Name: cfg.Interface, WG: wg, Link: device.IPCommand{}, Logger: logger})
		d.RetireReplaced = true
	}
	return d, closeAll, nil
}

// printGrant reports an issued certificate on stdout.
func printGrant(w io.Writer, cfg *device.Config, g *device.Grant) {
	l := g.Lease
	fmt.Fprintf(w, "serial_number  %s\n", l.SerialNumber)
	fmt.Fprintf(w, "common_name    %s\n", l.CommonName)
	for _, a := range l.Addresses {
		fmt.Fprintf(w, "address        %s\n", a)
	}
	fmt.Fprintf(w, "expiration     %s\n", l.Expiration.Format(time.RFC3339))
	if !g.TokenEnd.IsZero() && g.TokenEnd.Before(l.Expires()) {
		fmt.Fprintf(w, "revoked_at     %s (when the login token ends; see the warning above)\n", g.TokenEnd.UTC().Format(time.RFC3339))
	}
	fmt.Fprintf(w, "lease_id       %s\n", l.LeaseID)
	if cfg.ConfigFile != "" {
		fmt.Fprintf(w, "config         %s\n", cfg.ConfigFile)
		fmt.Fprintf(w, "certificate    %s\n", device.PEMPath(cfg.ConfigFile))
	}
	if cfg.Interface != "" {
		fmt.Fprintf(w, "interface      %s\n", cfg.Interface)
	}
}

package gateway

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/google/nftables"
	"github.com/hashicorp/go-hclog"
	vault "github.com/hashicorp/vault/api"
	"golang.zx2c4.com/wireguard/wgctrl"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/cmd/internal/envflag"
	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/cmd/wg-gateway/firewall"
	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/internal/memlimit"
)

// Main is the wg-gateway command: it reads its flags (and their
// environment equivalents) from args, runs the daemon until SIGINT or
// SIGTERM, and returns the exit code. version is reported in logs and in
// the gateway's status.
func Main(args []string, version string) int {
	if isVersionRequest(args) {
		fmt.Println("wg-gateway", version)
		return 0
	}
	host, _ := os.Hostname()
	cfg := Config{Version: version}
	fs := flag.NewFlagSet("wg-gateway", flag.ExitOnError)
	fs.StringVar(&cfg.Gateway, "gateway", "", "name of the gateway in the secrets engine (required)")
	fs.StringVar(&cfg.Mount, "mount", "wg", "mount path of the secrets engine")
	fs.StringVar(&cfg.Interface, "interface", "wg0", "WireGuard interface the daemon owns")
	fs.StringVar(&cfg.PrivateKeyFile, "private-key-file", "", "file with the interface's private key (base64); unset leaves the key as it is")
	fs.IntVar(&cfg.ListenPort, "listen-port", 0, "UDP port of the interface; 0 leaves it as it is")
	fs.StringVar(&cfg.AppRoleMount, "approle-mount", "approle", "mount path of the AppRole auth method")
	fs.StringVar(&cfg.RoleIDFile, "role-id-file", "", "file with the AppRole role_id (required)")
	fs.StringVar(&cfg.SecretIDFile, "secret-id-file", "", "file with the AppRole secret_id, or a response-wrapping token for it (required)")
	fs.StringVar(&cfg.CAFile, "ca-file", "", "PEM bundle of trusted CAs, re-read on SIGHUP; unset pins <mount>/ca/pem on first contact in -state-dir")
	fs.StringVar(&cfg.StateDir, "state-dir", "/var/lib/wg-gateway", "where the daemon pins the CAs it trusts without -ca-file (<gateway>.trust.pem) and, with -keep-unmanaged, the pools it manages (<gateway>.pools)")
	fs.StringVar(&cfg.MetricsAddr, "metrics-addr", "127.0.0.1:9586", "listen address of /metrics and /healthz; empty disables")
	fs.DurationVar(&cfg.ResyncInterval, "resync-interval", 5*time.Minute, "how often to fetch the full peer set and re-read the interface")
	fs.DurationVar(&cfg.PollWait, "poll-wait", 30*time.Second, "the wait asked of each long-poll of the peer feed, whole seconds from 1s to 60s; the engine holds a poll at most 1s, so an idle daemon polls about once a second")
	fs.BoolVar(&cfg.KeepUnmanaged, "keep-unmanaged", false, "keep peers with no address in the gateway's pools (not put there by the daemon)")
	fs.StringVar(&cfg.InstanceID, "instance-id", host, "name of this daemon in the gateway's status")
	fs.DurationVar(&cfg.StatusInterval, "status-interval", time.Second, "least time between two status reports (after an apply that removed a peer: 25ms, or this if shorter)")
	fs.StringVar(&cfg.Firewall, "firewall", "nftables", "how certificates' access policies are enforced: nftables (a table inet wg_gateway_<interface> of the daemon's own; the daemon must run in the network namespace it filters) or off (certificates carrying a policy are rejected)")
	logLevel := fs.String("log-level", "info", "log level: trace, debug, info, warn, error")
	logJSON := fs.Bool("log-json", false, "log as JSON")
	fs.Usage = envflag.Usage(fs, "WG_GATEWAY_",
		"Usage: wg-gateway -gateway NAME -role-id-file F -secret-id-file F [flags]\n"+
			"       wg-gateway -version | -h\n\n"+
			"Keeps a WireGuard interface equal to the certified, unrevoked peers of one gateway.\n"+
			"Vault is reached through VAULT_ADDR, VAULT_CACERT, VAULT_NAMESPACE and the other standard variables.\n"+
			"SIGHUP re-reads the files; SIGINT and SIGTERM stop.")
	if err := envflag.Parse(fs, args, "WG_GATEWAY_"); err != nil {
		fmt.Fprintln(os.Stderr, "wg-gateway:", err)
		return 2
	}

	logger := hclog.New(&hclog.LoggerOptions{
		Name: "wg-gateway", Level: hclog.LevelFromString(*logLevel), JSONFormat: *logJSON,
	})
	api, err := vault.NewClient(vault.DefaultConfig())
	if err != nil {
		logger.Error("Vault client", "error", err)
		return 1
	}
	wg, err := wgctrl.New()
	if err != nil {
		logger.Error("wgctrl", "error", err)
		return 1
	}
	defer wg.Close()
	d, err := New(cfg, NewVaultClient(api, &cfg, logger), wg, logger)
	if err != nil {
		fmt.Fprintln(os.Stderr, "wg-gateway:", err)
		return 2
	}

	if cfg.Firewall != "off" {
		d.UseFirewall(openFirewall(cfg.Interface, logger))
	} else {
		logger.Warn("-firewall=off: certificates carrying access rules will be rejected")
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	memlimit.Start(ctx, memoryPolicy())
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for range hup {
			d.Reload()
		}
	}()
	logger.Info("starting", "version", version, "gateway", cfg.Gateway, "interface", cfg.Interface)
	if err := d.Run(ctx); err != nil {
		logger.Error("stopped", "error", err)
		return 1
	}
	return 0
}

// isVersionRequest reports whether args ask only for the version, in any of
// the spellings wg-device also accepts: -version, --version, version.
func isVersionRequest(args []string) bool {
	if len(args) != 1 {
		return false
	}
	switch args[0] {
	case "-version", "--version", "version":
		return true
	}
	return false
}

// openFirewall opens the nftables firewall of iface, or returns nil (and
// says so) when nftables cannot be used: certificates carrying access
// rules are then rejected.
func openFirewall(iface string, logger hclog.Logger) Firewall {
	// One lasting socket: the firewall takes turns on it between the run
	// loop and the metrics. A socket per call would wait on its close for
	// the kernel to free what a deleting transaction removed (~10 ms).
	conn, err := nftables.New(nftables.AsLasting())
	if err == nil {
		var fw *firewall.Firewall
		if fw, err = firewall.Open(conn, iface); err == nil {
			if n := fw.StateLen(); n > 0 {
				logger.Info("firewall table of an earlier run kept until the peer set is known", "table", firewall.TableName(iface), "restricted_addresses", n)
			}
			return fw
		}
		_ = conn.CloseLasting()
	}
	logger.Error("nftables unavailable: certificates carrying access rules will be rejected", "error", err)
	return nil
}

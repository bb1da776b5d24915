// Command vault-plugin-secrets-wireguard is the WireGuard secrets engine as
// an external, multiplexed Vault plugin.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/vault/api"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend"
	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/internal/memlimit"
	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/internal/pluginserve"
)

// version is set at build time with -ldflags "-X main.version=v0.1.0".
var version = "v0.0.0-dev"

func main() {
	// Vault starts the plugin with its own flags; -version alone is asked
	// by people and scripts (scripts/dev.sh registers what it reports).
	if len(os.Args) == 2 && os.Args[1] == "-version" {
		fmt.Println("vault-plugin-secrets-wireguard", version)
		return
	}
	logger := hclog.New(&hclog.LoggerOptions{})
	meta := &api.PluginAPIClientMeta{}
	flags := meta.FlagSet()
	if err := flags.Parse(os.Args[1:]); err != nil {
		logger.Error("parse flags", "error", err)
		os.Exit(1)
	}
	// The process's soft memory limit follows its live heap at rest,
	// unless GOGC or GOMEMLIMIT is in its environment (internal/memlimit);
	// a mount loading its certificates holds it off.
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	mem := memlimit.Start(ctx, memlimit.PluginPolicy())
	factory := backend.NewFactory(version, backend.WithLoadHold(mem.Hold))
	if err := pluginserve.Serve(factory, api.VaultPluginTLSProvider(meta.GetTLSConfig()), nil); err != nil {
		logger.Error("plugin shutting down", "error", err)
		os.Exit(1)
	}
}

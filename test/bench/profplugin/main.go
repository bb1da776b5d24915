// Command profplugin is the WireGuard secrets engine plugin exactly as
// cmd/vault-plugin-secrets-wireguard builds it, plus a net/http/pprof
// listener (and expvar's /debug/vars) on $WG_BENCH_PPROF (a loopback address) for the benchmark's
// CPU profiles. It is a benchmark build only: `go run ./test/bench -profile`
// registers it in place of the real plugin; nothing ships it.
package main

import (
	"context"
	_ "expvar" // /debug/vars: the memory statistics, beside the profiles
	"net/http"
	_ "net/http/pprof"
	"os"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/vault/api"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend"
	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/internal/memlimit"
	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/internal/pluginserve"
)

var version = "v0.0.0-dev"

func main() {
	logger := hclog.New(&hclog.LoggerOptions{})
	if addr := os.Getenv("WG_BENCH_PPROF"); addr != "" {
		go func() {
			if err := http.ListenAndServe(addr, nil); err != nil {
				logger.Error("pprof listener", "error", err)
			}
		}()
	}
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

package pluginserve

import (
	"crypto/tls"
	"math"
	"os"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"
	"github.com/hashicorp/vault/sdk/helper/pluginutil"
	"github.com/hashicorp/vault/sdk/logical"
	"github.com/hashicorp/vault/sdk/plugin"
	"google.golang.org/grpc"
)

// streamWorkers is how many goroutines the gRPC server keeps to run
// requests. Without them it starts one per request (an issue is two:
// Vault's existence check, then the request itself), and each grows its
// stack again while it decodes the request: measured, a tenth of the
// plugin's CPU per issue. A request that finds every worker busy gets a
// goroutine of its own, as without workers.
const streamWorkers = 32

// Serve serves the backends factory makes until Vault stops the plugin.
// tlsProvider is the plugin's side of the mutual TLS with Vault
// (api.VaultPluginTLSProvider); logger nil logs as plugin.ServeMultiplex
// does.
func Serve(factory logical.Factory, tlsProvider func() (*tls.Config, error), logger hclog.Logger) error {
	if logger == nil {
		logger = hclog.New(&hclog.LoggerOptions{Level: hclog.Trace, Output: os.Stderr, JSONFormat: true})
	}
	if err := pluginutil.OptionallyEnableMlock(); err != nil {
		return err
	}
	backend := func(multiplex bool) goplugin.PluginSet {
		return goplugin.PluginSet{plugin.BackendPluginName: &plugin.GRPCBackendPlugin{
			Factory: factory, MultiplexingSupport: multiplex, Logger: logger,
		}}
	}
	goplugin.Serve(&goplugin.ServeConfig{
		HandshakeConfig: plugin.HandshakeConfig,
		// The protocol versions plugin.ServeMultiplex serves.
		VersionedPlugins: map[int]goplugin.PluginSet{3: backend(false), 4: backend(false), 5: backend(true)},
		Logger:           logger,
		TLSProvider:      tlsProvider,
		GRPCServer: func(opts []grpc.ServerOption) *grpc.Server {
			opts = append(opts, grpc.MaxRecvMsgSize(math.MaxInt32), grpc.MaxSendMsgSize(math.MaxInt32),
				grpc.NumStreamWorkers(streamWorkers))
			return goplugin.DefaultGRPCServer(opts)
		},
	})
	return nil
}

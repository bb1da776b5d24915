// Package pluginserve serves the secrets engine to Vault as an external,
// multiplexed plugin: what the SDK's plugin.ServeMultiplex does, with the
// gRPC server tuned for the issue path. The plugin's main and the
// benchmark's profiling build of it share it.
package pluginserve

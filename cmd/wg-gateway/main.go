// Command wg-gateway keeps a WireGuard interface equal to the certified,
// unrevoked peers of one gateway of the WireGuard secrets engine.
//
// Every flag has an environment equivalent (package envflag): -role-id-file
// is WG_GATEWAY_ROLE_ID_FILE. The standard Vault client variables (VAULT_ADDR,
// VAULT_CACERT, VAULT_NAMESPACE, …) are honoured. SIGHUP re-reads the
// files; SIGINT and SIGTERM stop the daemon.
package main

import (
	"os"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/cmd/wg-gateway/gateway"
)

// version is set at build time with -ldflags "-X main.version=v0.1.0".
var version = "v0.0.0-dev"

func main() {
	os.Exit(gateway.Main(os.Args[1:], version))
}

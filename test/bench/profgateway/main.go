// Command profgateway is wg-gateway exactly as cmd/wg-gateway builds it
// (both call gateway.Main), plus a CPU profile of the whole run
// written to $WG_BENCH_CPUPROFILE when the daemon stops. It is a benchmark
// build only: `go run ./test/bench -profile` runs it in place of
// wg-gateway; nothing ships it.
package main

import (
	"fmt"
	"os"
	"runtime/pprof"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/cmd/wg-gateway/gateway"
)

// version is set at build time with -ldflags "-X main.version=v0.1.0".
var version = "v0.0.0-dev"

func main() {
	if path := os.Getenv("WG_BENCH_CPUPROFILE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, "profgateway:", err)
			os.Exit(1)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "profgateway:", err)
			os.Exit(1)
		}
		code := gateway.Main(os.Args[1:], version)
		pprof.StopCPUProfile()
		f.Close()
		os.Exit(code)
	}
	os.Exit(gateway.Main(os.Args[1:], version))
}

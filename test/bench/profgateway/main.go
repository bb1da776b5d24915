// Command profgateway is wg-gateway exactly as cmd/wg-gateway builds it
// (both call gateway.Main), plus a CPU profile of the whole run
// written to $WG_BENCH_CPUPROFILE when the daemon stops, and, with
// $WG_BENCH_HEAPPROFILE, a heap profile taken at the largest live heap of
// the run (written to that path with the pid appended). It is a benchmark
// build only: `go run ./test/bench -profile` runs it in place of
// wg-gateway; nothing ships it.
package main

import (
	"fmt"
	"os"
	"runtime/metrics"
	"runtime/pprof"
	"time"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/cmd/wg-gateway/gateway"
)

// version is set at build time with -ldflags "-X main.version=v0.1.0".
var version = "v0.0.0-dev"

func main() {
	if path := os.Getenv("WG_BENCH_HEAPPROFILE"); path != "" {
		go heapAtPeak(fmt.Sprintf("%s.%d.pprof", path, os.Getpid()))
	}
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

// heapAtPeak rewrites a heap profile to path each time the live heap (as
// the last collection measured it) has grown by a megabyte past the
// largest seen: the file ends up holding the profile of the peak.
func heapAtPeak(path string) {
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	var peak uint64
	for range time.Tick(20 * time.Millisecond) {
		metrics.Read(sample)
		live := sample[0].Value.Uint64()
		if live < peak+1<<20 {
			continue
		}
		peak = live
		f, err := os.Create(path)
		if err != nil {
			return
		}
		_ = pprof.Lookup("heap").WriteTo(f, 0)
		f.Close()
	}
}

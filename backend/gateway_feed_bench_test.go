package backend

import (
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
)

// BenchmarkIssueDuringFullReads measures the latency of issue with no other
// load and while gateways read the full peer set in a loop, on a gateway
// with WG_BENCH_PEERS live peers (default 50,000). Each sub-benchmark
// reports the p50 and p99 of its b.N issues:
//
//	go test ./backend -run '^$' -bench IssueDuringFullReads -benchtime 2000x
func BenchmarkIssueDuringFullReads(b *testing.B) {
	peers := 50000
	if s := os.Getenv("WG_BENCH_PEERS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			b.Fatalf("WG_BENCH_PEERS: %v", err)
		}
		peers = n
	}
	// The test helpers want a *testing.T; a failure here panics instead.
	t := &testing.T{}
	env := newTestEnv(t)
	env.t = t
	for range peers {
		if _, err := env.do(logical.UpdateOperation, "issue/laptop", map[string]any{"public_key": mustKey(t)}); err != nil {
			b.Fatal(err)
		}
	}
	for _, readers := range []int{0, 2} {
		b.Run("full-readers="+strconv.Itoa(readers), func(b *testing.B) {
			stop := make(chan struct{})
			var wg sync.WaitGroup
			reads := 0
			var mu sync.Mutex
			for range readers {
				wg.Go(func() {
					for {
						select {
						case <-stop:
							return
						default:
						}
						if _, err := env.do(logical.ReadOperation, "gateways/gw1/peers", nil); err != nil {
							b.Error(err)
							return
						}
						mu.Lock()
						reads++
						mu.Unlock()
					}
				})
			}
			took := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for range b.N {
				start := time.Now()
				resp, err := env.do(logical.UpdateOperation, "issue/laptop", map[string]any{"public_key": mustKey(t)})
				if err != nil || resp.IsError() {
					b.Fatalf("issue: %v %v", err, resp)
				}
				took = append(took, time.Since(start))
				env.revokeLease(resp) // keep the peer count steady
			}
			b.StopTimer()
			close(stop)
			wg.Wait()
			slices.Sort(took)
			b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(took[len(took)*99/100].Microseconds())/1000, "p99-ms")
			b.ReportMetric(float64(reads), "full-reads")
		})
	}
}

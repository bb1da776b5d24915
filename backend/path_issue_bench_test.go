package backend

import (
	"testing"

	"github.com/hashicorp/vault/sdk/logical"
)

// BenchmarkIssue measures the engine's own work per issue (no gRPC, storage
// in memory): time and allocations, which the plugin's garbage collector
// pays for too. Keys are made before the clock starts.
//
//	go test ./backend -run '^$' -bench '^BenchmarkIssue$' -benchmem -benchtime 20000x
func BenchmarkIssue(b *testing.B) {
	t := &testing.T{} // the helpers want a *testing.T; a failure here panics instead
	env := newTestEnv(t)
	env.t = t
	keys := make([]string, b.N)
	for i := range keys {
		keys[i] = mustKey(t)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		resp, err := env.do(logical.UpdateOperation, "issue/laptop", map[string]any{"public_key": keys[i]})
		if err != nil || resp.IsError() {
			b.Fatalf("issue: %v %v", err, resp.Error())
		}
	}
}

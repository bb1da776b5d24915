package firewall

import (
	"fmt"
	"net/netip"
	"testing"
	"time"
)

// BenchmarkColdStart10k puts 10,000 addresses of 10 rule sets into a real
// table (in a fresh network namespace), as a gateway's cold start does,
// and then takes one address out, as a revocation does; it reports both
// times.
func BenchmarkColdStart10k(b *testing.B) {
	var cold, revoke time.Duration
	for range b.N {
		conn, _ := netnsTB(b)
		f, err := Open(conn, "wg0")
		if err != nil {
			b.Fatal(err)
		}
		sets := make([]*RuleSet, 10)
		for i := range sets {
			ds, err := parseDests(fmt.Sprintf("10.%d.0.0/16", 20+i), fmt.Sprintf("10.%d.0.0/16:443/tcp", 120+i))
			if err != nil {
				b.Fatal(err)
			}
			sets[i] = NewRuleSet(ds)
		}
		want := make(map[netip.Addr]*RuleSet, 10000)
		for i := range 10000 {
			want[netip.AddrFrom4([4]byte{100, 64, byte(i >> 8), byte(i)})] = sets[i%10]
		}
		s, _ := f.State()
		start := time.Now()
		if err := f.Tighten(s.Plan(want)); err != nil {
			b.Fatal(err)
		}
		cold += time.Since(start)
		s, _ = f.State()
		start = time.Now()
		if err := f.Loosen(s.Plan(map[netip.Addr]*RuleSet{netip.AddrFrom4([4]byte{100, 64, 0, 7}): nil})); err != nil {
			b.Fatal(err)
		}
		revoke += time.Since(start)
	}
	b.ReportMetric(float64(cold.Milliseconds())/float64(b.N), "ms/cold-start")
	b.ReportMetric(float64(revoke.Microseconds())/float64(b.N), "µs/revocation")
}

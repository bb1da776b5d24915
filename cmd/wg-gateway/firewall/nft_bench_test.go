package firewall

import (
	"fmt"
	"net/netip"
	"slices"
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
		conn, _ := netnsTB(b, true)
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

// BenchmarkRevocation times what a revocation asks of the table, one
// address out of 100 of its rule set (another peer of its role stays:
// one map element goes) or the last one (the rule set goes with it),
// over a lasting netlink connection and over a transient one (a socket
// per call, which the kernel makes wait on close for the RCU grace period
// of the deletion).
func BenchmarkRevocation(b *testing.B) {
	ds, err := parseDests("10.20.0.0/16", "10.30.0.0/16:443/tcp")
	if err != nil {
		b.Fatal(err)
	}
	rs := NewRuleSet(ds)
	for _, conn := range []struct {
		name    string
		lasting bool
	}{{"lasting", true}, {"transient", false}} {
		for _, last := range []bool{false, true} {
			name := "conn=" + conn.name + "/element"
			if last {
				name = "conn=" + conn.name + "/rule_set_too"
			}
			b.Run(name, func(b *testing.B) {
				c, _ := netnsTB(b, conn.lasting)
				f, err := Open(c, "wg0")
				if err != nil {
					b.Fatal(err)
				}
				stay := make(map[netip.Addr]*RuleSet)
				if !last {
					for i := range 99 {
						stay[netip.AddrFrom4([4]byte{100, 64, 1, byte(i)})] = rs
					}
				}
				s, _ := f.State()
				if err := f.Tighten(s.Plan(stay)); err != nil {
					b.Fatal(err)
				}
				var took []time.Duration
				for i := range b.N {
					a := netip.AddrFrom4([4]byte{100, 64, 2 + byte(i>>8), byte(i)})
					s, _ := f.State()
					if err := f.Tighten(s.Plan(map[netip.Addr]*RuleSet{a: rs})); err != nil {
						b.Fatal(err)
					}
					s, _ = f.State()
					p := s.Plan(map[netip.Addr]*RuleSet{a: nil})
					if len(p.DropSets) > 0 != last {
						b.Fatalf("plan %+v: rule set dropped %v, want %v", p, len(p.DropSets) > 0, last)
					}
					start := time.Now()
					if err := f.Loosen(p); err != nil {
						b.Fatal(err)
					}
					took = append(took, time.Since(start))
				}
				slices.Sort(took)
				b.ReportMetric(float64(took[len(took)/2].Microseconds()), "µs-p50/revocation")
				b.ReportMetric(float64(took[len(took)*99/100].Microseconds()), "µs-p99/revocation")
			})
		}
	}
}

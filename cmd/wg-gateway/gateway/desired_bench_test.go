package gateway

import (
	"fmt"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// benchSet is n peers, each with an IPv4 and an IPv6 address; with
// rotating, one more certificate shares the first peer's addresses.
func benchSet(n int, now time.Time, rotating bool) Set {
	set := make(Set, n+1)
	for i := range n {
		var k wgtypes.Key
		k[0], k[1], k[2] = byte(i), byte(i>>8), byte(i>>16)
		v4 := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		v6 := netip.AddrFrom16([16]byte{0xfd, 0x77, 13: byte(i >> 16), 14: byte(i >> 8), 15: byte(i)})
		s := fmt.Sprint(i)
		set[s] = Peer{Serial: s, Key: k, AllowedIPs: []netip.Prefix{netip.PrefixFrom(v4, 32), netip.PrefixFrom(v6, 128)},
			NotBefore: now.Add(-time.Minute), NotAfter: now.Add(time.Hour)}
	}
	if rotating {
		p := set["0"]
		p.Serial, p.Key[31], p.NotBefore = "successor", 1, now
		set[p.Serial] = p
	}
	return set
}

// BenchmarkDesired computes the desired interface of 50,000 peers, as a
// daemon does on every change, with and without a rotation under way.
func BenchmarkDesired(b *testing.B) {
	now := time.Now()
	for _, rotating := range []bool{false, true} {
		set := benchSet(50000, now, rotating)
		b.Run(fmt.Sprintf("peers=50000/rotating=%v", rotating), func(b *testing.B) {
			for range b.N {
				set.Desired(now)
			}
		})
	}
}

// BenchmarkPeerStateMemory reports the heap a daemon's peer state takes
// per peer (bySerial, byKey, byAddr, expiry) at 50,000 peers with an IPv4
// and an IPv6 address each.
func BenchmarkPeerStateMemory(b *testing.B) {
	now := time.Now()
	set := benchSet(50000, now, false)
	for range b.N {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		s := newPeerState()
		touched := make(map[wgtypes.Key]bool)
		for _, p := range set {
			s.put(p, touched)
		}
		s.takeDirty()
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(len(set)), "B/peer")
		runtime.KeepAlive(s)
	}
}

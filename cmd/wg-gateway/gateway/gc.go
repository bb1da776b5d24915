package gateway

import (
	"time"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/internal/memlimit"
)

// memoryPolicy is the daemon's garbage collection (internal/memlimit),
// unless its environment sets GOGC or GOMEMLIMIT (then the operator's
// setting is the collector's).
//
// A cold start allocates far more than it keeps (each page's entries,
// each certificate parsed), and what it keeps, the peer state, is most of
// what is live. Go's default (GOGC=100) lets the heap grow to twice what
// is live before it collects: 101–107 MB of RSS at 50,000 peers with
// rules. GOGC=50 alone brought that to 75–86 MB but made small heaps
// collect often: at 10,000 peers a quarter of the daemon's CPU to
// converge (P4: 290–330 ms with GOGC=50, 220–230 ms without those
// collections). So a small heap is paced by GOGC=200 (it may triple), and
// the soft memory limit keeps a large one near what GOGC=50 allowed: half
// as much again as its live heap, read every 250 ms, never under 64 MiB
// (what a heap paced by GOGC=200 reaches from about 21 MiB live). There
// is no resting heap to keep apart from transients: the limit follows the
// live heap as it is (no window, no margin, no transient).
func memoryPolicy() memlimit.Policy {
	return memlimit.Policy{
		GCPercent: 200,
		Growth:    1.5,
		Floor:     64 << 20,
		Transient: ^uint64(0),
		Every:     250 * time.Millisecond,
	}
}

package memlimit

import (
	"context"
	"math"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"
	"time"
)

// Policy is how a Controller derives the limit.
type Policy struct {
	// Growth is how many times the live heap the heap may reach at rest
	// before a collection, as GOGC paces it: 2 as GOGC=100 does, 1.5 as
	// GOGC=50 does.
	Growth float64
	// Floor is the least limit set: below it the collector's own pacing
	// rules (a small heap, as with few certificates, is never limited).
	Floor uint64
	// Margin is added to the resting live heap's growth: the runtime's
	// own memory beside the heap's objects (stacks, metadata,
	// fragmentation) and the requests in flight at rest.
	Margin uint64
	// Transient is how much of the live heap above rest does not grow:
	// the limit is never under the live heap's growth less this, so a
	// heap that grew for real (an old daemon's unpaged full read, a new
	// mount loading without a Hold) is paced almost as Growth paces it,
	// and is never collected back to back.
	Transient uint64
	// Window is how far back the resting live heap is the smallest live
	// heap seen.
	Window time.Duration
	// Every is how often the live heap is read.
	Every time.Duration
	// GCPercent, unless 0, is the GOGC Start sets: the pacing of a heap
	// the limit is far above.
	GCPercent int
}

// PluginPolicy is the plugin's policy: GOGC's default pacing, and a limit
// that transients reach (see the package's doc).
func PluginPolicy() Policy {
	return Policy{Growth: 2, Floor: 128 << 20, Margin: 16 << 20, Transient: 64 << 20, Window: 10 * time.Second, Every: 250 * time.Millisecond}
}

// Limit is the memory limit for a process whose smallest live heap over
// the window was resting and whose live heap is now live (both in bytes,
// as the last collection marked them): resting's growth plus the margin,
// at least the floor, and at least live's growth less the transient.
func (p Policy) Limit(resting, live uint64) uint64 {
	grown := uint64(p.Growth * float64(live))
	return max(p.Floor, uint64(p.Growth*float64(resting))+p.Margin, grown-min(grown, p.Transient))
}

// A sample is the live heap at a time.
type sample struct {
	at   time.Time
	live uint64
}

// A window is the live heap samples of the last Window that may still be
// the smallest: each is smaller than every later one, oldest first.
type window struct {
	span    time.Duration
	samples []sample
}

// add records live at now and returns the smallest live heap of the last
// span, live's included.
func (w *window) add(now time.Time, live uint64) uint64 {
	for len(w.samples) > 0 && w.samples[len(w.samples)-1].live >= live {
		w.samples = w.samples[:len(w.samples)-1]
	}
	w.samples = append(w.samples, sample{at: now, live: live})
	drop := 0
	for drop < len(w.samples)-1 && now.Sub(w.samples[drop].at) > w.span {
		drop++
	}
	w.samples = append(w.samples[:0], w.samples[drop:]...)
	return w.samples[0].live
}

// A Controller sets the process's soft memory limit from its live heap.
type Controller struct {
	policy Policy
	holds  atomic.Int32 // Hold calls not released
	window window
	set    uint64 // the limit last set; 0 before the first
}

// NewController returns a controller of policy p.
func NewController(p Policy) *Controller {
	return &Controller{policy: p, window: window{span: p.Window}}
}

// Observe takes the live heap at now and returns the limit to set, and
// whether it differs from the one set last by more than 1/32 (smaller
// changes are not worth setting). The limit falls by at most 1/16 per
// observation: one far below what the process holds would make the
// collector run back to back until its memory is returned.
func (c *Controller) Observe(now time.Time, live uint64) (uint64, bool) {
	if c.holds.Load() > 0 {
		c.window.samples = c.window.samples[:0] // what is live is the rest
	}
	resting := c.window.add(now, live)
	limit := c.policy.Limit(resting, live)
	if c.set != 0 {
		limit = max(limit, c.set-c.set/16)
	}
	diff := max(limit, c.set) - min(limit, c.set)
	if c.set != 0 && diff <= c.set/32 {
		return c.set, false
	}
	c.set = limit
	return limit, true
}

// Hold has the controller take the live heap as the rest until the
// returned function is called: a mount loading its certificates grows the
// heap for good, and is paced as GOGC=100 paces it (twice what is live and
// the margin) instead of under a limit that lags behind it. Holds may
// overlap; a nil controller (none runs) holds nothing.
func (c *Controller) Hold() (release func()) {
	if c == nil {
		return func() {}
	}
	c.holds.Add(1)
	var once atomic.Bool
	return func() {
		if once.CompareAndSwap(false, true) {
			c.holds.Add(-1)
		}
	}
}

// Enabled reports whether the process's collector is left to the
// controller: not when the operator tuned it (GOGC or GOMEMLIMIT in the
// plugin's environment, as `vault plugin register -env` sets them).
func Enabled(getenv func(string) string) bool {
	return getenv("GOGC") == "" && getenv("GOMEMLIMIT") == ""
}

// liveHeap is the runtime metric of the heap the last collection marked.
const liveHeap = "/gc/heap/live:bytes"

// Run reads the live heap every Every and sets the memory limit from it
// until ctx is done, then leaves none (as at start).
func (c *Controller) Run(ctx context.Context) {
	s := []metrics.Sample{{Name: liveHeap}}
	t := time.NewTicker(c.policy.Every)
	defer t.Stop()
	defer debug.SetMemoryLimit(math.MaxInt64) // no limit
	for {
		metrics.Read(s)
		if s[0].Value.Kind() == metrics.KindUint64 {
			if limit, ok := c.Observe(time.Now(), s[0].Value.Uint64()); ok {
				debug.SetMemoryLimit(int64(limit))
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Start sets p's GCPercent and runs a controller of p for the process
// until ctx is done, and returns it, unless the environment tunes the
// collector (Enabled with os.Getenv): then it changes nothing and returns
// nil.
func Start(ctx context.Context, p Policy) *Controller {
	if !Enabled(os.Getenv) {
		return nil
	}
	if p.GCPercent != 0 {
		debug.SetGCPercent(p.GCPercent)
	}
	c := NewController(p)
	go c.Run(ctx)
	return c
}

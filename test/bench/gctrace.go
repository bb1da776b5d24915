package main

import (
	"bytes"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"
)

// gcTraceEnv makes a Go program report each garbage collection on its
// standard error: Vault's, for the bench to see its collector beside a
// sample's CPU.
const gcTraceEnv = "GODEBUG=gctrace=1"

// A gcTrace passes a Go program's output on to out and keeps, of the
// collections it reports (gcTraceEnv), when each report arrived and the
// CPU the collection took.
type gcTrace struct {
	out io.Writer

	mu      sync.Mutex
	partial []byte
	cycles  []gcCycle
}

// A gcCycle is one collection: when its report arrived (its end) and its CPU.
type gcCycle struct {
	at  time.Time
	cpu time.Duration
}

func newGCTrace(out io.Writer) *gcTrace { return &gcTrace{out: out} }

// Write passes p on and notes the collections its complete lines report.
func (g *gcTrace) Write(p []byte) (int, error) {
	now := time.Now()
	g.mu.Lock()
	g.partial = append(g.partial, p...)
	for {
		i := bytes.IndexByte(g.partial, '\n')
		if i < 0 {
			break
		}
		if cpu, ok := gcLineCPU(string(g.partial[:i])); ok {
			g.cycles = append(g.cycles, gcCycle{at: now, cpu: cpu})
		}
		g.partial = g.partial[i+1:]
	}
	g.partial = bytes.Clone(g.partial)
	g.mu.Unlock()
	return g.out.Write(p)
}

// A gcUse is the collections that ended in a span of time, and their CPU.
type gcUse struct {
	N   int           `json:"n"`
	CPU time.Duration `json:"cpu_ns"`
}

// between is the collections that ended from from to to; none without a
// trace.
func (g *gcTrace) between(from, to time.Time) gcUse {
	var u gcUse
	if g == nil {
		return u
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, c := range g.cycles {
		if !c.at.Before(from) && !c.at.After(to) {
			u.N, u.CPU = u.N+1, u.CPU+c.cpu
		}
	}
	return u
}

// gcLineCPU is the CPU of the collection a gctrace line reports, the sum
// of its "ms cpu" phases:
//
//	gc 128 @60.617s 9%: 0.50+475+0.085 ms clock, 1.0+0.18/248/374+0.17 ms cpu, 807->835->356 MB, …
//
// (stop-the-world, then mark assist/background/idle, then stop-the-world).
// It reports false for any other line.
func gcLineCPU(line string) (time.Duration, bool) {
	if !strings.HasPrefix(line, "gc ") {
		return 0, false
	}
	_, rest, ok := strings.Cut(line, " ms clock, ")
	if !ok {
		return 0, false
	}
	phases, _, ok := strings.Cut(rest, " ms cpu")
	if !ok {
		return 0, false
	}
	total := 0.0
	for _, f := range strings.FieldsFunc(phases, func(r rune) bool { return r == '+' || r == '/' }) {
		v, err := strconv.ParseFloat(f, 64)
		if err != nil {
			return 0, false
		}
		total += v
	}
	return time.Duration(total * float64(time.Millisecond)), true
}

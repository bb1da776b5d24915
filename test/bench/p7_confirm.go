package main

import (
	"fmt"
	"slices"
	"time"
)

// p7Daemons is how many wg-gateway daemons follow P7's gateway.
const p7Daemons = 3

// confirmTiming is the timing of revocations with confirm.
type confirmTiming struct {
	Calls []time.Duration `json:"call_ns"` // revoke … confirm=10s, call to answer
	P50   time.Duration   `json:"p50_ns"`
	P99   time.Duration   `json:"p99_ns"`
	Max   time.Duration   `json:"max_ns"`
}

// runP7 measures `revoke serial_number=… confirm=10s` of one device whose
// gateway three daemons follow (each on its own wireguard-go interface):
// the time from the call to the answer saying enforced, which needs every
// daemon to apply the removal and report it.
func (b *bench) runP7() error {
	wm, err := b.newWGMount("wg-p7", 107)
	if err != nil {
		return err
	}
	var gws []*gatewayProc
	for i := range p7Daemons {
		_, g, stop, err := b.gatewayRig(wm, fmt.Sprintf("p7-%d", i))
		if err != nil {
			return err
		}
		defer stop()
		if err := waitHealthy(g, 30*time.Second); err != nil {
			return err
		}
		gws = append(gws, g)
	}
	if _, err := b.confirmTiming(wm, gws, 10); err != nil { // warm-up
		return err
	}
	c, err := b.confirmTiming(wm, gws, b.p.ConfirmN)
	if err != nil {
		return err
	}
	b.report.raw("P7", c)
	b.report.add(row{ID: "P7", What: fmt.Sprintf("`revoke serial_number=… confirm=10s`, %d daemons on the gateway, %d samples: call to `enforced: true`", p7Daemons, len(c.Calls)),
		Ours: fmt.Sprintf("p50 %.1f ms, p99 %.1f ms", ms(c.P50), ms(c.P99)), Anchor: "no other control plane confirms enforcement",
		Goal: "p50 ≤ 100 ms", Verdict: verdict(c.P50 <= 100*time.Millisecond)})
	return nil
}

// confirmTiming issues one certificate at a time, waits until every daemon
// has applied it, then revokes it by serial with confirm=10s and times the
// call; every answer must say enforced and name every daemon.
func (b *bench) confirmTiming(wm *wgMount, gws []*gatewayProc, samples int) (confirmTiming, error) {
	var c confirmTiming
	keys := newKeys(samples)
	for i := range samples {
		if err := b.ctx.Err(); err != nil {
			return c, err
		}
		before := make([]int, len(gws))
		for j, g := range gws {
			before[j] = g.eventCount()
		}
		var issued struct {
			SerialNumber string `json:"serial_number"`
		}
		if _, err := b.vault.call("POST", wm.issuePath(), b.device, map[string]any{"public_key": keys[i]}, &issued); err != nil {
			return c, err
		}
		for j, g := range gws {
			if _, err := g.waitEvent(before[j], func(ev applyEvent) bool { return ev.Added > 0 }, time.Minute); err != nil {
				return c, fmt.Errorf("sample %d: %w", i, err)
			}
		}
		var answer struct {
			Enforced  bool     `json:"enforced"`
			Instances []string `json:"instances"`
		}
		t0 := time.Now()
		_, err := b.vault.call("POST", wm.path+"/revoke", rootToken, map[string]any{"serial_number": issued.SerialNumber, "confirm": "10s"}, &answer)
		took := time.Since(t0)
		if err != nil {
			return c, err
		}
		if !answer.Enforced || len(answer.Instances) != len(gws) {
			return c, fmt.Errorf("sample %d: revoke with confirm answered enforced=%v instances=%v, want true and %d", i, answer.Enforced, answer.Instances, len(gws))
		}
		c.Calls = append(c.Calls, took)
	}
	s := sortedDurations(c.Calls)
	c.P50, c.P99, c.Max = percentile(s, 50), percentile(s, 99), slices.Max(s)
	logf("revoke with confirm on %s, %d daemons, %d samples: p50 %.2f ms, p99 %.2f ms, max %.2f ms",
		wm.path, len(gws), samples, ms(c.P50), ms(c.P99), ms(c.Max))
	return c, nil
}

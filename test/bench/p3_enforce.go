package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// enforcement is the timing of single-lease revocations.
type enforcement struct {
	Samples []time.Duration `json:"after_return_ns"` // from the revoke call returning to the peer gone
	Calls   []time.Duration `json:"call_ns"`         // the revoke call itself
	Polls   []int           `json:"polls"`           // interface reads until the peer was gone
	P50     time.Duration   `json:"p50_ns"`
	P99     time.Duration   `json:"p99_ns"`
	Max     time.Duration   `json:"max_ns"`
	CallP50 time.Duration   `json:"call_p50_ns"`
}

// runP3 measures revocation to enforcement on a gateway with no other peer.
func (b *bench) runP3() error {
	wm, err := b.newWGMount("wg-p3", 103)
	if err != nil {
		return err
	}
	iface, g, stop, err := b.gatewayRig(wm, "p3")
	if err != nil {
		return err
	}
	defer stop()
	if err := waitHealthy(g, 30*time.Second); err != nil {
		return err
	}
	if _, err := b.enforcement(wm, iface, nil, 10); err != nil { // warm-up
		return err
	}
	e, err := b.enforcement(wm, iface, nil, b.p.Samples)
	if err != nil {
		return err
	}
	b.report.raw("P3", e)
	b.report.add(row{ID: "P3", What: fmt.Sprintf("revocation → peer gone from the device, %d samples", len(e.Samples)),
		Ours: fmt.Sprintf("p50 %.2f ms, p99 %.2f ms", ms(e.P50), ms(e.P99)), Anchor: "floor: 1 HTTP round trip + 1 UAPI set (~1 ms)",
		Goal: "p50 ≤ 20 ms, p99 ≤ 100 ms", Verdict: verdict(e.P50 <= 20*time.Millisecond && e.P99 <= 100*time.Millisecond)})
	return nil
}

// enforcement issues one certificate at a time, waits for its peer on the
// interface, revokes its lease (sys/leases/revoke, what `vault lease
// revoke` calls) and reads the interface with wgctrl in a tight loop until
// the peer is gone; a sample is the time from the call returning to the
// read that no longer shows the peer.
//
// With g set (an interface of tens of thousands of peers, where one read
// takes longer than what is measured and would hold wireguard-go's lock
// against the daemon), the daemon's applied lines tell instead: a sample
// ends when the line of the apply that removed the peer arrives (logged
// right after its ConfigureDevice returned); one read then checks that the
// peer is gone.
func (b *bench) enforcement(wm *wgMount, iface *wgIface, g *gatewayProc, samples int) (enforcement, error) {
	var e enforcement
	keys := newKeys(samples)
	for i := 0; i < samples; i++ {
		if err := b.ctx.Err(); err != nil {
			return e, err
		}
		var data struct {
			PublicKey string `json:"public_key"`
		}
		beforeIssue := 0
		if g != nil {
			beforeIssue = g.eventCount()
		}
		r, err := b.vault.call("POST", wm.issuePath(), b.device, map[string]any{"public_key": keys[i]}, &data)
		if err != nil {
			return e, err
		}
		key, err := wgtypes.ParseKey(data.PublicKey)
		if err != nil {
			return e, err
		}
		if g == nil {
			if err := waitPeer(iface, key, true, 10*time.Second, time.Millisecond); err != nil {
				return e, fmt.Errorf("sample %d: %w", i, err)
			}
		} else {
			if _, err := g.waitEvent(beforeIssue, func(ev applyEvent) bool { return ev.Added > 0 }, time.Minute); err != nil {
				return e, fmt.Errorf("sample %d: %w", i, err)
			}
			if has, err := iface.hasPeer(key); err != nil || !has {
				return e, fmt.Errorf("sample %d: the daemon logged an addition but the peer is not on the interface (%v)", i, err)
			}
		}
		before := 0
		if g != nil {
			before = g.eventCount()
		}
		body, _ := json.Marshal(map[string]string{"lease_id": r.LeaseID})
		t0 := time.Now()
		code, resp, err := b.vault.put("sys/leases/revoke", rootToken, body)
		returned := time.Now()
		if err != nil {
			return e, err
		}
		if code != http.StatusNoContent && code != http.StatusOK {
			return e, fmt.Errorf("revoke %s: status %d: %s", r.LeaseID, code, truncate(resp))
		}
		polls := 0
		var gone time.Time
		if g != nil {
			ev, err := g.waitEvent(before, func(ev applyEvent) bool { return ev.Removed > 0 }, time.Minute)
			if err != nil {
				return e, fmt.Errorf("sample %d: %w", i, err)
			}
			gone = ev.At
			if has, err := iface.hasPeer(key); err != nil || has {
				return e, fmt.Errorf("sample %d: the daemon logged a removal but the peer is on the interface (%v)", i, err)
			}
		}
		for g == nil {
			has, err := iface.hasPeer(key)
			polls++
			if err != nil {
				return e, err
			}
			if !has {
				gone = time.Now()
				break
			}
			if time.Since(returned) > 10*time.Second {
				return e, fmt.Errorf("sample %d: peer still on the interface 10 s after the revocation", i)
			}
		}
		e.Samples = append(e.Samples, gone.Sub(returned))
		e.Calls = append(e.Calls, returned.Sub(t0))
		e.Polls = append(e.Polls, polls)
	}
	s := sortedDurations(e.Samples)
	e.P50, e.P99, e.Max = percentile(s, 50), percentile(s, 99), s[len(s)-1]
	e.CallP50 = percentile(sortedDurations(e.Calls), 50)
	logf("enforcement on %s, %d samples: p50 %.2f ms, p99 %.2f ms, max %.2f ms after the call returned (call p50 %.2f ms)",
		wm.path, samples, ms(e.P50), ms(e.P99), ms(e.Max), ms(e.CallP50))
	return e, nil
}

// put sends a PUT with a JSON body.
func (s *vaultServer) put(path, token string, body []byte) (int, []byte, error) {
	return s.request("PUT", path, token, body)
}

// waitPeer polls the interface until key is (present) or is not a peer.
func waitPeer(iface *wgIface, key wgtypes.Key, present bool, limit, every time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		has, err := iface.hasPeer(key)
		if err != nil {
			return err
		}
		if has == present {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("peer %s present=%v on %s after %s", key, has, iface.name, limit)
		}
		time.Sleep(every)
	}
}

// waitHealthy waits for the daemon's /healthz to answer 200.
func waitHealthy(g *gatewayProc, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + g.Metrics + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-g.Exited():
			return fmt.Errorf("wg-gateway exited; see %s", g.logPath)
		case <-time.After(20 * time.Millisecond):
		}
	}
	return fmt.Errorf("wg-gateway not healthy after %s; see %s", limit, g.logPath)
}

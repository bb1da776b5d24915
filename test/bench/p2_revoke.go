package main

import (
	"context"
	"fmt"
	"time"
)

// massRevoke is one engine's mass revocation.
type massRevoke struct {
	Engine string        `json:"engine"`
	Leases int           `json:"leases"`
	Call   time.Duration `json:"revoke_prefix_call_ns"` // the sys/leases/revoke-prefix request
	Total  time.Duration `json:"total_ns"`              // until the device is empty / the leases are gone
	PerSec float64       `json:"per_second"`
	// CPU is Vault's and the plugin's CPU time per revocation, from the
	// call until no lease is left: a figure the machine's other work
	// hardly moves, unlike the times.
	CPU cpuUse `json:"cpu"`
	// Fold is ours only: the tidy call after the revocation that writes
	// the revocation journal into the records, work the engine defers
	// (Vault's periodic call does it about a minute later). It is run
	// here, outside the timed window, so that it does not fall into
	// another measurement, and reported apart.
	Fold    time.Duration `json:"fold_ns,omitempty"`
	FoldCPU cpuUse        `json:"fold_cpu,omitzero"`
}

// cliRevokePrefix is the body `vault lease revoke -prefix` sends: the
// CLI queues the revocations unless -sync is given.
var cliRevokePrefix = map[string]any{"sync": false}

// p2Round is one round of P2: both engines on fresh mounts.
type p2Round struct {
	WG          massRevoke  `json:"wg"`
	AutoRebuild massRevoke  `json:"pki_auto_rebuild"`
	DefaultCRL  *massRevoke `json:"pki_default_crl,omitempty"` // first round only
}

// runP2 measures `vault lease revoke -prefix` (its API call,
// sys/leases/revoke-prefix with sync=false, as the CLI makes it: Vault
// queues the revocations and its expiration workers run them) of n live
// leases: ours until the gateway's wireguard-go interface holds no peer,
// PKI's (auto_rebuild=true; default CRL settings in the first round only)
// until sys/leases/lookup lists none. Each round uses fresh mounts of
// both engines and alternates which goes first; the ratio is taken per
// round.
func (b *bench) runP2() error {
	n := b.p.RevokeN
	var rounds []p2Round
	for i := range b.p.P2Rounds {
		var r p2Round
		var err error
		runWG := func() {
			if err == nil {
				r.WG, err = b.p2WG(i, n)
			}
		}
		runPKI := func() {
			if err == nil {
				r.AutoRebuild, err = b.p2PKI(fmt.Sprintf("pki-p2ar-%d", i+1), "pki (auto_rebuild)", true, n)
			}
		}
		if i%2 == 0 {
			runWG()
			runPKI()
		} else {
			runPKI()
			runWG()
		}
		if err == nil && i == 0 && b.p.P2Default {
			var def massRevoke
			def, err = b.p2PKI("pki-p2", "pki (default CRL)", false, n)
			r.DefaultCRL = &def
		}
		if err != nil {
			return fmt.Errorf("round %d: %w", i+1, err)
		}
		logf("P2 round %d: wg %.2f s, pki auto_rebuild %.2f s: ratio %.2f; CPU per revocation wg %.0f µs (vault+plugin), pki %.0f µs",
			i+1, r.WG.Total.Seconds(), r.AutoRebuild.Total.Seconds(), r.WG.PerSec/r.AutoRebuild.PerSec, r.WG.CPU.Total(), r.AutoRebuild.CPU.Total())
		rounds = append(rounds, r)
		if err := b.ctx.Err(); err != nil {
			return err
		}
	}
	var wgRate, arRate, wgSecs, wgCPU, arCPU, foldCPU []float64
	for _, r := range rounds {
		wgRate, arRate = append(wgRate, r.WG.PerSec), append(arRate, r.AutoRebuild.PerSec)
		wgSecs = append(wgSecs, r.WG.Total.Seconds())
		wgCPU, arCPU = append(wgCPU, r.WG.CPU.Total()), append(arCPU, r.AutoRebuild.CPU.Total())
		foldCPU = append(foldCPU, r.WG.FoldCPU.Total())
	}
	ratio := pairedRatios(wgRate, arRate)
	b.report.raw("P2", map[string]any{"leases": n, "rounds": rounds, "ratio": ratio})
	defCRL := "not run (-p2-default-crl=false)"
	defRate := ""
	if def := rounds[0].DefaultCRL; def != nil {
		defCRL = fmt.Sprintf("%.2f s default CRL (round 1)", def.Total.Seconds())
		defRate = fmt.Sprintf("; %.0f/s default CRL (round 1)", def.PerSec)
	}
	timeGoal := ratioGoal{Bound: 2, AtMost: true} // seconds, every round
	secs := spread(wgSecs)
	b.report.add(row{ID: "P2", What: fmt.Sprintf("revoke -prefix of %d leases: until the device is empty", n),
		Ours:   fmt.Sprintf("%.2f s (%.2f–%.2f s, %d rounds)", secs.Median, secs.Min, secs.Max, secs.Rounds),
		Anchor: fmt.Sprintf("until no lease: %.2f s auto_rebuild (median); %s", median(secsOf(rounds)), defCRL),
		Goal:   "≤ 2 s in every round", Verdict: timeGoal.verdict(secs)})
	goal := ratioGoal{Bound: 1.0}
	b.report.add(row{ID: "P2", What: "revoke -prefix: revocations/s, wg / pki auto_rebuild",
		Ours:   fmt.Sprintf("%.0f/s; %.0f µs CPU each (Vault and plugin), %.0f µs more later (journal fold)", median(wgRate), median(wgCPU), median(foldCPU)),
		Anchor: fmt.Sprintf("%.0f/s auto_rebuild, %.0f µs CPU each%s", median(arRate), median(arCPU), defRate),
		Ratio:  ratio.String(),
		Goal:   goal.String(), Verdict: goal.verdict(ratio)})
	return nil
}

// secsOf is each round's PKI auto_rebuild time in seconds.
func secsOf(rounds []p2Round) []float64 {
	var xs []float64
	for _, r := range rounds {
		xs = append(xs, r.AutoRebuild.Total.Seconds())
	}
	return xs
}

// p2WG is our side of round i: a fresh mount and gateway, n leases, the
// revocation timed until the interface is empty (profiled in round 1 with
// -profile).
func (b *bench) p2WG(i, n int) (massRevoke, error) {
	wm, err := b.newWGMount(fmt.Sprintf("wg-p2-%d", i+1), 102)
	if err != nil {
		return massRevoke{}, err
	}
	iface, g, stop, err := b.gatewayRig(wm, fmt.Sprintf("p2-%d", i+1))
	if err != nil {
		return massRevoke{}, err
	}
	defer stop()
	if _, err := b.issueMany(wm, n); err != nil {
		return massRevoke{}, err
	}
	if err := iface.waitPeerCount(n, 3*time.Minute); err != nil {
		return massRevoke{}, err
	}
	drain(g.applied)
	var res massRevoke
	if b.p.Profile && i == 0 {
		b.profileDuring("p2-wg-revoke-prefix", 10, func(context.Context) {
			res, err = b.revokePrefixWG(wm, g, iface, n)
		})
	} else {
		res, err = b.revokePrefixWG(wm, g, iface, n)
	}
	if err != nil {
		return res, err
	}
	start := time.Now()
	fold := func() {
		res.FoldCPU = b.vault.cpuMeter(pluginName).measure(n, func() {
			_, err = b.vault.call("PUT", wm.path+"/tidy", rootToken, map[string]any{}, nil)
		})
	}
	if b.p.Profile && i == 0 {
		b.profileDuring("p2-wg-fold", 5, func(context.Context) { fold() })
	} else {
		fold()
	}
	res.Fold = time.Since(start)
	logf("P2 wg: the deferred fold of the revocation journal (tidy, untimed above): %s; CPU per revocation: vault %.0f µs, plugin %.0f µs",
		res.Fold.Round(time.Millisecond), res.FoldCPU.VaultUS, res.FoldCPU.PluginUS)
	return res, err
}

// p2PKI is PKI's side: a fresh mount, n leased certificates, the
// revocation timed until no lease is left.
func (b *bench) p2PKI(path, name string, autoRebuild bool, n int) (massRevoke, error) {
	pm, err := b.newPKIMount(path, autoRebuild)
	if err != nil {
		return massRevoke{}, err
	}
	if err := b.signMany(pm, n); err != nil {
		return massRevoke{}, err
	}
	prefix := pm.signPath()
	var r massRevoke
	// Vault alone: PKI is builtin.
	r.CPU = cpuMeter{vault: b.vault.Pid()}.measure(n, func() {
		start := time.Now()
		if _, err = b.vault.call("PUT", "sys/leases/revoke-prefix/"+prefix, rootToken, cliRevokePrefix, nil); err != nil {
			return
		}
		call := time.Since(start)
		if _, err = b.vault.waitLeasesGone(prefix+"/", 30*time.Minute); err != nil {
			return
		}
		r = massRevoke{Engine: name, Leases: n, Call: call, Total: time.Since(start)}
	})
	if err != nil {
		return massRevoke{}, err
	}
	r.PerSec = float64(n) / r.Total.Seconds()
	logf("P2 %s: %d leases revoked in %s (call %s), %.0f/s; CPU per revocation: vault %.0f µs (other work: %.0f%% of the machine)",
		name, n, r.Total.Round(time.Millisecond), r.Call.Round(time.Millisecond), r.PerSec, r.CPU.VaultUS, 100*r.CPU.OtherShare)
	return r, nil
}

// revokePrefixWG revokes the mount's leases by prefix and waits until the
// interface is empty, timing both from the start of the call.
// The CPU per revocation is Vault's and the plugin's until no lease is
// left, as PKI's.
func (b *bench) revokePrefixWG(wm *wgMount, g *gatewayProc, iface *wgIface, n int) (massRevoke, error) {
	since := g.eventCount()
	var r massRevoke
	var err error
	r.CPU = b.vault.cpuMeter(pluginName).measure(n, func() {
		start := time.Now()
		if _, err = b.vault.call("PUT", "sys/leases/revoke-prefix/"+wm.issuePath(), rootToken, cliRevokePrefix, nil); err != nil {
			return
		}
		call := time.Since(start)
		var at time.Time
		if at, err = g.waitEmptied(iface, since, n, 5*time.Minute); err != nil {
			return
		}
		r = massRevoke{Engine: "wg", Leases: n, Call: call, Total: at.Sub(start)}
		_, err = b.vault.waitLeasesGone(wm.issuePath()+"/", 5*time.Minute)
	})
	if err != nil {
		return massRevoke{}, err
	}
	r.PerSec = float64(n) / r.Total.Seconds()
	logf("P2 wg: %d leases revoked, device empty %s after the call started (call %s), %.0f/s; CPU per revocation: vault %.0f µs, plugin %.0f µs (other work: %.0f%% of the machine)",
		n, r.Total.Round(time.Millisecond), r.Call.Round(time.Millisecond), r.PerSec, r.CPU.VaultUS, r.CPU.PluginUS, 100*r.CPU.OtherShare)
	return r, nil
}

// waitEmptied waits until the daemon's applied lines after the first
// since have removed n peers in all, then reads iface once: empty, it
// returns when the line that completed the removals arrived; otherwise it
// waits as waitConverged does. The interface is not read while the daemon
// works: a read after each of its ~100 lines made wireguard-go list up to
// 5,000 peers each time, CPU taken from the revocation being timed.
func (g *gatewayProc) waitEmptied(iface *wgIface, since, n int, limit time.Duration) (time.Time, error) {
	deadline := time.Now().Add(limit)
	removed, next := 0, since
	var last applyEvent
	for removed < n {
		ev, err := g.waitEvent(next, func(applyEvent) bool { return true }, time.Until(deadline))
		if err != nil {
			return time.Time{}, fmt.Errorf("%d of %d peers removed: %w", removed, n, err)
		}
		removed, last, next = removed+ev.Removed, ev, next+1
	}
	left, err := iface.peerCount()
	if err != nil {
		return time.Time{}, err
	}
	if left == 0 {
		return last.At, nil
	}
	logf("note: the daemon's lines removed %d peers, yet %d are left; waiting on the interface", removed, left)
	return g.waitConverged(iface, 0, time.Until(deadline))
}

// drain empties a token channel.
func drain(c chan struct{}) {
	for {
		select {
		case <-c:
		default:
			return
		}
	}
}

package main

import (
	"fmt"
	"path/filepath"
	"time"
)

// p9Serve bounds the wait for a mount to serve again after a reload or a
// leader change.
const p9Serve = 10 * time.Minute

// runP9 puts P9Live live certificates on one mount (4 gateways) of a
// 3-node raft cluster and measures: issue p50 at that size against 1,000
// (paired per round with a reference mount of 1,000 on the same cluster);
// the plugin's RSS; storage per certificate beside PKI's; how long the
// mount takes to serve again after `vault plugin reload` and after a
// leader change, each of which loads every record.
func (b *bench) runP9() error {
	c, err := b.startP9Cluster()
	if err != nil {
		return err
	}
	leader, err := c.active(nil)
	if err != nil {
		return err
	}
	nb := *b // the bench's helpers, on the cluster's active node
	nb.vault = leader
	if err := nb.setupAuth(); err != nil {
		return err
	}
	ref, err := nb.newWGMount("wg-p9-ref", 89)
	if err != nil {
		return err
	}
	big, err := nb.newP9Mount("wg-p9", 90, p9Gateways)
	if err != nil {
		return err
	}
	if _, err := nb.issueMany(ref, p9Ref); err != nil {
		return err
	}
	if _, _, err := nb.grow(big, p9Ref, b.p.P9Clients, p9Ref); err != nil {
		return err
	}
	vaultAt1k, err := readMem(leader.Pid())
	if err != nil {
		return err
	}
	// One round unmeasured: the cluster has just formed.
	if _, err := nb.pairedSamples("warm-up", big, ref, 1, b.p.P9Sample); err != nil {
		return err
	}
	early, err := nb.pairedSamples("at 1,000", big, ref, b.p.P9Rounds, b.p.P9Sample)
	if err != nil {
		return err
	}

	have, err := nb.liveTotal(big)
	if err != nil {
		return err
	}
	n := b.p.P9Live - have
	db0, err := dbBytes(leader)
	if err != nil {
		return err
	}
	growStart, growLoad := time.Now(), loadAvg()
	certs, retried, err := nb.grow(big, n, b.p.P9Clients, max(1, n/sizeSample))
	if err != nil {
		return err
	}
	growTime := time.Since(growStart)
	// A leader starved during the growth may have stepped down.
	if leader, err = c.active(nil); err != nil {
		return err
	}
	if leader != nb.vault {
		logf("P9: the active node changed during the growth, to %s", leader.addr)
		nb.vault = leader
	}
	db1, err := dbBytes(leader)
	if err != nil {
		return err
	}
	logf("P9 grew %s by %d in %s (%.0f/s, %d clients, load %s → %s); vault.db %d → %d MB", big.path, n, growTime.Round(time.Second),
		float64(n)/growTime.Seconds(), b.p.P9Clients, growLoad, loadAvg(), db0>>20, db1>>20)

	late, err := nb.pairedSamples(fmt.Sprintf("at %d", b.p.P9Live), big, ref, b.p.P9Rounds, b.p.P9Sample)
	if err != nil {
		return err
	}
	live, err := nb.liveTotal(big)
	if err != nil {
		return err
	}
	pluginPID, err := leader.findPlugin()
	if err != nil {
		return err
	}
	pluginGrown, err := readMem(pluginPID)
	if err != nil {
		return err
	}
	vaultGrown, err := readMem(leader.Pid())
	if err != nil {
		return err
	}
	sizes, err := nb.storageSizes(&wgMount{path: big.path}, certs, live)
	if err != nil {
		return fmt.Errorf("storage sizes: %w", err)
	}

	reload, err := nb.p9Reload(big, live)
	if err != nil {
		return fmt.Errorf("reload: %w", err)
	}
	stepDown, err := nb.p9StepDown(c, big, live)
	if err != nil {
		return fmt.Errorf("leader change: %w", err)
	}

	b.report.raw("P9", map[string]any{
		"live": live, "gateways": p9Gateways, "grow_clients": b.p.P9Clients, "grown": n, "grow_ns": growTime, "grow_retried": retried,
		"rounds_at_1k": early, "rounds_at_scale": late, "plugin_after_growth": pluginGrown,
		"vault_at_1k": vaultAt1k, "vault_after_growth": vaultGrown, "vault_db_bytes_before": db0, "vault_db_bytes_after": db1,
		"storage": sizes, "reload": reload, "step_down": stepDown,
	})
	b.p9Rows(live, early, late, pluginGrown, vaultAt1k, vaultGrown, sizes, n, db0, db1, reload, stepDown)
	return nil
}

// A p9Restart is how long the mount took to serve again after a reload or
// a leader change.
type p9Restart struct {
	Command    time.Duration `json:"command_ns"`        // the reload or step-down call
	Active     time.Duration `json:"active_ns"`         // step-down: to a new active node
	Serve      time.Duration `json:"serve_ns"`          // to the first issue that succeeded
	Tries      int           `json:"issue_tries"`       // issues sent until then
	LiveAfter  int           `json:"live_after"`        // the gateways' live peers after it
	PluginMem  procMem       `json:"plugin_mem"`        // the fresh plugin, after its load
	NewLeader  string        `json:"new_leader"`        // step-down: the new active node
	LoadBefore string        `json:"loadavg_before"`    //
	Profile    string        `json:"profile,omitempty"` // the plugin's CPU profile of the load
}

// p9Reload reloads the plugin on the active node and times the first
// issue that succeeds after it: an issue waits for the registry's load of
// every record.
func (b *bench) p9Reload(m *p9Mount, live int) (p9Restart, error) {
	s := b.vault
	r := p9Restart{LoadBefore: loadAvg()}
	start := time.Now()
	if _, err := s.cli("plugin", "reload", "-plugin="+pluginName); err != nil {
		return r, err
	}
	r.Command = time.Since(start)
	prof := b.p9LoadProfile("p9-reload")
	at, tries, err := b.serveAgain(s, m, p9Serve)
	if err != nil {
		return r, err
	}
	r.Serve, r.Tries = at.Sub(start), tries
	r.Profile = prof()
	return r, b.p9After(&r, m, live)
}

// p9StepDown steps the active node down and times a new active node and
// the first issue that succeeds on it; the bench goes on with that node.
func (b *bench) p9StepDown(c *p9Cluster, m *p9Mount, live int) (p9Restart, error) {
	old := b.vault
	r := p9Restart{LoadBefore: loadAvg()}
	start := time.Now()
	if err := old.Root.Sys().StepDown(); err != nil {
		return r, err
	}
	r.Command = time.Since(start)
	// The old node answers sys/leader once it stood down.
	deadline := time.Now().Add(time.Minute)
	for {
		l, err := old.Root.Sys().Leader()
		if err == nil && !l.IsSelf {
			break
		}
		if time.Now().After(deadline) {
			return r, fmt.Errorf("%s did not stand down in a minute", old.addr)
		}
		time.Sleep(10 * time.Millisecond)
	}
	next, err := c.active(nil)
	if err != nil {
		return r, err
	}
	r.Active, r.NewLeader = time.Since(start), next.addr
	b.vault = next
	prof := b.p9LoadProfile("p9-step-down")
	at, tries, err := b.serveAgain(next, m, p9Serve)
	if err != nil {
		return r, err
	}
	r.Serve, r.Tries = at.Sub(start), tries
	r.Profile = prof()
	return r, b.p9After(&r, m, live)
}

// p9After checks that every certificate is live again after a restart
// (live before, plus the issues that answered since) and reads the fresh
// plugin's memory.
func (b *bench) p9After(r *p9Restart, m *p9Mount, live int) error {
	got, err := b.liveTotal(m)
	if err != nil {
		return err
	}
	r.LiveAfter = got
	if got < live {
		return fmt.Errorf("%d live peers after the restart, %d before", got, live)
	}
	pid, err := b.vault.findPlugin()
	if err != nil {
		return err
	}
	r.PluginMem, err = readMem(pid)
	logf("P9 restart: command %s, active %s, serving after %s (%d tries), %d live, plugin RSS %.0f MB",
		r.Command.Round(time.Millisecond), r.Active.Round(time.Millisecond), r.Serve.Round(time.Millisecond), r.Tries, got, r.PluginMem.MB())
	return err
}

// p9LoadProfile starts, in profile mode, CPU profiles of the plugin
// process that is loading (the new one: it retries until the pprof
// listener answers) and of the active node's Vault, for about as long as
// a load takes (P9Live/4,000 s, 5–40 s); the returned function waits for
// them and returns the plugin's path. Without -profile it does nothing.
func (b *bench) p9LoadProfile(name string) func() string {
	if !b.p.Profile {
		return func() string { return "" }
	}
	seconds := min(40, max(5, b.p.P9Live/4000))
	dir := filepath.Join(b.p.Out, "profiles")
	vaultDone := make(chan struct{})
	go func() {
		defer close(vaultDone)
		path := filepath.Join(dir, name+"-vault.cpu.pprof")
		if err := fetchProfile(fmt.Sprintf("%s/v1/sys/pprof/profile?seconds=%d", b.vault.addr, seconds), path); err != nil {
			logf("profile of vault during %s: %v", name, err)
			return
		}
		b.savedProfile(name+" vault", path)
	}()
	done := make(chan string, 1)
	go func() {
		path := filepath.Join(dir, name+"-plugin.cpu.pprof")
		url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", b.vault.pprof, seconds)
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			if err := fetchProfile(url, path); err == nil {
				b.savedProfile(name+" plugin", path)
				done <- path
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		logf("profile of %s: the plugin's pprof listener never answered", name)
		done <- ""
	}()
	return func() string {
		<-vaultDone
		return <-done
	}
}

// p9Rows adds P9's rows to the table.
func (b *bench) p9Rows(live int, early, late []p9Round, plugin, vault1k, vaultN procMem, sizes storageReport, grown int, db0, db1 int64, reload, step p9Restart) {
	bigEarly, refEarly := p50s(early)
	bigLate, refLate := p50s(late)
	paired := pairedRatios(bigLate, refLate)
	baseline := pairedRatios(bigEarly, refEarly)
	same := median(bigLate) / median(bigEarly)
	drift := median(refLate) / median(refEarly)
	goal := ratioGoal{Bound: 1.2, AtMost: true}
	v := goal.verdict(paired)
	if same > 1.2 {
		v += fmt.Sprintf("; same mount at %d vs %d: %.2f MISSED", live, p9Ref, same)
	}
	b.report.add(row{ID: "P9",
		What: fmt.Sprintf("issue p50 with %d live certificates on one mount (%d gateways) vs %d; 3-node raft cluster, %d clients, %d rounds × %d issues per mount",
			live, p9Gateways, p9Ref, b.p.Clients, len(late), b.p.P9Sample),
		Ours: fmt.Sprintf("%.2f ms at %d; %.2f ms at %d (same mount, before the growth): %.2f", median(bigLate), live, median(bigEarly), p9Ref, same),
		Anchor: fmt.Sprintf("reference mount of %d live, same rounds: %.2f ms (%.2f ms before the growth: Vault's own drift %.2f); big/ref before the growth %s",
			p9Ref, median(refLate), median(refEarly), drift, baseline),
		Ratio: paired.String() + " big/ref per round", Goal: goal.String(), Verdict: v})
	b.report.add(row{ID: "P9", What: fmt.Sprintf("RSS with %d live certificates (plugin; Vault's active node holds their leases)", live),
		Ours:   fmt.Sprintf("plugin %.0f MB after the growth, %.0f MB fresh after reload, %.0f MB on the new leader", plugin.MB(), reload.PluginMem.MB(), step.PluginMem.MB()),
		Anchor: fmt.Sprintf("Vault (active node) %.0f MB before the growth, %.0f MB after", vault1k.MB(), vaultN.MB())})
	serveGoal := 15 * time.Second
	b.report.add(row{ID: "P9", What: fmt.Sprintf("`vault plugin reload` with %d live: to the first issue that succeeds (it waits for the load of every record)", live),
		Ours: fmt.Sprintf("%.2f s (the command %.2f s)", reload.Serve.Seconds(), reload.Command.Seconds()),
		Goal: "≤ 15 s", Verdict: verdict(reload.Serve <= serveGoal)})
	b.report.add(row{ID: "P9", What: fmt.Sprintf("`vault operator step-down` of the active node with %d live: to a new active node / to the first issue that succeeds on it", live),
		Ours: fmt.Sprintf("%.2f s / %.2f s", step.Active.Seconds(), step.Serve.Seconds()),
		Goal: "≤ 15 s (as reload)", Verdict: verdict(step.Serve <= serveGoal)})
	perCert := float64(db1-db0) / float64(grown)
	b.report.add(row{ID: "P9", What: fmt.Sprintf("storage per live certificate at %d: sys/raw (key + value + barrier) of %d sampled; raft's vault.db growth over the %d issued", live, sizes.WG.Sampled, grown),
		Ours: fmt.Sprintf("%.0f B (record %.0f + packed %.0f + lease %.0f + token index %.0f), %.0f B after a tidy deleted the packed records' loose copies (it took %.1f s); vault.db %d → %d MB: %.0f B per certificate, bolt's slack included",
			sizes.WG.Total, sizes.WG.Record, sizes.WG.Packed, sizes.WG.Lease, sizes.WG.Index, sizes.WGTidied.Total, sizes.Tidy.Seconds(), db0>>20, db1>>20, perCert),
		Anchor: fmt.Sprintf("pki/sign with a lease: %.0f B (record %.0f + lease %.0f + token index %.0f)", sizes.PKI.Total, sizes.PKI.Record, sizes.PKI.Lease, sizes.PKI.Index),
		Ratio:  fmt.Sprintf("%.2f; %.2f after tidy", sizes.WG.Total/sizes.PKI.Total, sizes.WGTidied.Total/sizes.PKI.Total)})
}

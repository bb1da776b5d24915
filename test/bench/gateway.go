package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/test/internal/harness"
)

// A gatewayProc is a wg-gateway daemon of the bench. Its log (debug level)
// is kept in a file; each "applied" line, logged right after the daemon's
// wgctrl ConfigureDevice returned, is timestamped as it arrives, so that
// convergence is seen without polling the interface (which would compete
// with the daemon for wireguard-go's device lock and the CPU).
type gatewayProc struct {
	*harness.Gateway
	started time.Time
	logPath string
	profile string // CPU profile written at exit, in profile mode

	applied chan struct{} // a token after each applied line, capacity 1
	evMu    sync.Mutex
	events  []applyEvent // every applied line, in order
}

// An applyEvent is one "applied" line of the daemon: when it arrived and
// how many peers the apply added (or updated) and removed.
type applyEvent struct {
	At      time.Time
	Added   int
	Removed int
}

// eventCount is how many applied lines arrived so far.
func (g *gatewayProc) eventCount() int {
	g.evMu.Lock()
	defer g.evMu.Unlock()
	return len(g.events)
}

// eventsSince returns the applied lines after the first n.
func (g *gatewayProc) eventsSince(n int) []applyEvent {
	g.evMu.Lock()
	defer g.evMu.Unlock()
	return append([]applyEvent(nil), g.events[min(n, len(g.events)):]...)
}

// waitEvent waits for an applied line after the first n for which ok
// holds, and returns it.
func (g *gatewayProc) waitEvent(n int, ok func(applyEvent) bool, limit time.Duration) (applyEvent, error) {
	timeout := time.After(limit)
	for {
		for _, ev := range g.eventsSince(n) {
			if ok(ev) {
				return ev, nil
			}
		}
		select {
		case <-g.applied:
		case <-g.Exited():
			return applyEvent{}, fmt.Errorf("wg-gateway exited; see %s", g.logPath)
		case <-timeout:
			return applyEvent{}, fmt.Errorf("no such applied line from wg-gateway in %s; see %s", limit, g.logPath)
		}
	}
}

// parseApplied reads "... applied: index=N added_or_updated=A removed=R".
func parseApplied(line string, at time.Time) applyEvent {
	ev := applyEvent{At: at}
	for _, f := range strings.Fields(line) {
		if v, ok := strings.CutPrefix(f, "added_or_updated="); ok {
			ev.Added, _ = strconv.Atoi(v)
		} else if v, ok := strings.CutPrefix(f, "removed="); ok {
			ev.Removed, _ = strconv.Atoi(v)
		}
	}
	return ev
}

// gatewayRig puts a wireguard-go interface in a fresh namespace and starts
// wg-gateway on it for mount m; stop undoes all three.
func (b *bench) gatewayRig(m *wgMount, tag string) (iface *wgIface, g *gatewayProc, stop func(), err error) {
	ns, err := b.newNetns()
	if err != nil {
		return nil, nil, nil, err
	}
	iface, err = b.newWG(ns)
	if err != nil {
		ns.del()
		return nil, nil, nil, err
	}
	g, err = b.startGateway(m, iface, tag)
	if err != nil {
		iface.stop()
		ns.del()
		return nil, nil, nil, err
	}
	return iface, g, func() { g.stop(); iface.stop(); ns.del() }, nil
}

// startGateway starts wg-gateway for mount m's gateway on iface, logged in
// with the bench-gateway AppRole. Its log (debug level) goes to a file;
// each "applied" line is timestamped as it arrives. mods change the
// options last (P8 runs the daemon in a namespace).
func (b *bench) startGateway(m *wgMount, iface *wgIface, tag string, mods ...func(*harness.GatewayOptions)) (*gatewayProc, error) {
	dir := filepath.Join(b.p.Out, "gateway-"+tag)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	roleID, secretID, err := b.approleCredentials("bench-gateway")
	if err != nil {
		return nil, err
	}
	files := map[string]string{"role-id": roleID, "secret-id": secretID, "private-key": m.gwKey.String()}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content+"\n"), 0o600); err != nil {
			return nil, err
		}
	}
	g := &gatewayProc{
		logPath: filepath.Join(dir, "wg-gateway.log"),
		applied: make(chan struct{}, 1),
	}
	// A fresh state directory: the CAs of an earlier run's Vault are not
	// this one's, and the daemon pins this one's on first contact.
	stateDir := filepath.Join(dir, "state")
	if err := os.RemoveAll(stateDir); err != nil {
		return nil, err
	}
	logFile, err := os.Create(g.logPath)
	if err != nil {
		return nil, err
	}
	atExit(func() { _ = logFile.Close() }) // after the daemon has stopped
	opts := harness.GatewayOptions{
		Bin:       b.bins.gateway,
		VaultAddr: b.vault.addr,
		StateDir:  stateDir,
		Args: []string{"-gateway", m.gateway, "-mount", m.path, "-interface", iface.name,
			"-private-key-file", filepath.Join(dir, "private-key"),
			"-role-id-file", filepath.Join(dir, "role-id"), "-secret-id-file", filepath.Join(dir, "secret-id"),
			"-poll-wait", "30s", "-log-level", "debug", "-instance-id", "bench-" + tag},
		Log: &lineWriter{out: logFile, line: g.scan},
	}
	if b.p.Profile {
		g.profile = filepath.Join(dir, "wg-gateway.cpu.pprof")
		opts.Env = []string{"WG_BENCH_CPUPROFILE=" + g.profile}
	}
	if b.p.GatewayEnv != "" {
		opts.Env = append(opts.Env, strings.Split(b.p.GatewayEnv, ",")...)
	}
	for _, mod := range mods {
		mod(&opts)
	}
	g.started = time.Now()
	if err := try(func() { g.Gateway = harness.StartGateway(b.tb, opts) }); err != nil {
		return nil, err
	}
	return g, nil
}

// scan records an "applied" line of the daemon's log.
func (g *gatewayProc) scan(line string) {
	if !strings.Contains(line, "applied: index=") {
		return
	}
	ev := parseApplied(line, time.Now())
	g.evMu.Lock()
	g.events = append(g.events, ev)
	g.evMu.Unlock()
	select {
	case g.applied <- struct{}{}:
	default:
	}
}

// A lineWriter passes what is written to out, and each whole line to line
// as it arrives.
type lineWriter struct {
	out     io.Writer
	line    func(string)
	partial []byte
}

// Write writes p to out and hands on the lines it completes.
func (w *lineWriter) Write(p []byte) (int, error) {
	w.partial = append(w.partial, p...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			break
		}
		w.line(string(w.partial[:i]))
		w.partial = w.partial[i+1:]
	}
	return w.out.Write(p)
}

// stop sends SIGTERM and waits for the daemon (SIGKILL after 10 s).
func (g *gatewayProc) stop() { g.Stop() }

// waitConverged waits until iface holds want peers, checking the interface
// after the daemon's applied lines, and returns when the line that
// completed it arrived. Lines are the only signal: the interface is read
// only after one, so nothing polls wireguard-go while the daemon works.
// With want > 0 (a cold start onto an empty interface) it is read only
// once the lines have added want peers, or when none came for 2 s: a
// read of the whole interface holds wireguard-go's configuration lock,
// and one after each of the daemon's applies would slow it in proportion
// to how often it applies.
func (g *gatewayProc) waitConverged(iface *wgIface, want int, limit time.Duration) (time.Time, error) {
	timeout := time.After(limit)
	idle := time.NewTimer(time.Hour)
	defer idle.Stop()
	for {
		select {
		case <-g.applied:
			added := 0
			for _, ev := range g.eventsSince(0) {
				added += ev.Added
			}
			idle.Reset(2 * time.Second)
			if want > 0 && added < want {
				continue
			}
		case <-idle.C:
		case <-g.Exited():
			return time.Time{}, fmt.Errorf("wg-gateway exited; see %s", g.logPath)
		case <-timeout:
			n, _ := iface.peerCount()
			return time.Time{}, fmt.Errorf("interface %s holds %d peers, not %d, %s after wg-gateway started; see %s",
				iface.name, n, want, limit, g.logPath)
		}
		n, err := iface.peerCount()
		if err != nil {
			return time.Time{}, err
		}
		if n != want {
			continue
		}
		// The line of the apply that completed the interface has
		// arrived, or follows at once: give it a moment.
		c := g.eventCount()
		select {
		case <-g.applied:
		case <-time.After(200 * time.Millisecond):
		}
		evs := g.eventsSince(0)
		if len(evs) > c {
			logf("note: an applied line arrived after the interface was complete; taking it")
		}
		if len(evs) == 0 {
			return time.Time{}, fmt.Errorf("interface %s holds %d peers but wg-gateway logged no apply; see %s", iface.name, n, g.logPath)
		}
		return evs[len(evs)-1].At, nil
	}
}

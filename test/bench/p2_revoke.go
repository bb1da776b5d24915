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
}

// cliRevokePrefix is the body `vault lease revoke -prefix` sends: the
// CLI queues the revocations unless -sync is given.
var cliRevokePrefix = map[string]any{"sync": false}

// runP2 measures `vault lease revoke -prefix` (its API call,
// sys/leases/revoke-prefix with sync=false, as the CLI makes it: Vault
// queues the revocations and its expiration workers run them) of n live
// leases: ours until the gateway's wireguard-go interface holds no peer,
// PKI's (default CRL settings, and auto_rebuild=true) until
// sys/leases/lookup lists none.
func (b *bench) runP2() error {
	n := b.p.RevokeN
	wm, err := b.newWGMount("wg-p2", 102)
	if err != nil {
		return err
	}
	iface, g, stop, err := b.gatewayRig(wm, "p2")
	if err != nil {
		return err
	}
	defer stop()
	if _, err := b.issueMany(wm, n); err != nil {
		return err
	}
	if err := iface.waitPeerCount(n, 3*time.Minute); err != nil {
		return err
	}
	drain(g.applied)

	var wgRes massRevoke
	b.profileDuring("p2-wg-revoke-prefix", 10, func(context.Context) {
		wgRes, err = b.revokePrefixWG(wm, g, iface, n)
	})
	if !b.p.Profile {
		wgRes, err = b.revokePrefixWG(wm, g, iface, n)
	}
	if err != nil {
		return err
	}

	results := []massRevoke{wgRes}
	for _, auto := range []bool{false, true} {
		path, name := "pki-p2", "pki (default CRL)"
		if auto {
			path, name = "pki-p2ar", "pki (auto_rebuild)"
		}
		pm, err := b.newPKIMount(path, auto)
		if err != nil {
			return err
		}
		if err := b.signMany(pm, n); err != nil {
			return err
		}
		prefix := pm.signPath()
		start := time.Now()
		if _, err := b.vault.call("PUT", "sys/leases/revoke-prefix/"+prefix, rootToken, cliRevokePrefix, nil); err != nil {
			return err
		}
		call := time.Since(start)
		if _, err := b.vault.waitLeasesGone(prefix+"/", 30*time.Minute); err != nil {
			return err
		}
		r := massRevoke{Engine: name, Leases: n, Call: call, Total: time.Since(start)}
		r.PerSec = float64(n) / r.Total.Seconds()
		logf("P2 %s: %d leases revoked in %s (call %s), %.0f/s", name, n, r.Total.Round(time.Millisecond), call.Round(time.Millisecond), r.PerSec)
		results = append(results, r)
	}
	b.report.raw("P2", results)
	def, ar := results[1], results[2]
	b.report.add(row{ID: "P2", What: fmt.Sprintf("revoke -prefix of %d leases: until the device is empty", n),
		Ours:   fmt.Sprintf("%.2f s (%.0f/s)", wgRes.Total.Seconds(), wgRes.PerSec),
		Anchor: fmt.Sprintf("until no lease: %.2f s default CRL, %.2f s auto_rebuild", def.Total.Seconds(), ar.Total.Seconds()),
		Goal:   "≤ 3 s", Verdict: verdict(wgRes.Total <= 3*time.Second)})
	ratio := wgRes.PerSec / ar.PerSec
	b.report.add(row{ID: "P2", What: "revoke -prefix: revocations/s",
		Ours:   fmt.Sprintf("%.0f/s", wgRes.PerSec),
		Anchor: fmt.Sprintf("%.0f/s auto_rebuild; %.0f/s default CRL", ar.PerSec, def.PerSec),
		Ratio:  fmt.Sprintf("%.2f (vs default %.1f)", ratio, wgRes.PerSec/def.PerSec),
		Goal:   "≥ 0.8× auto_rebuild", Verdict: verdict(ratio >= 0.8)})
	return nil
}

// revokePrefixWG revokes the mount's leases by prefix and waits until the
// interface is empty, timing both from the start of the call.
func (b *bench) revokePrefixWG(wm *wgMount, g *gatewayProc, iface *wgIface, n int) (massRevoke, error) {
	start := time.Now()
	if _, err := b.vault.call("PUT", "sys/leases/revoke-prefix/"+wm.issuePath(), rootToken, cliRevokePrefix, nil); err != nil {
		return massRevoke{}, err
	}
	call := time.Since(start)
	at, err := g.waitConverged(iface, 0, 5*time.Minute)
	if err != nil {
		return massRevoke{}, err
	}
	r := massRevoke{Engine: "wg", Leases: n, Call: call, Total: at.Sub(start)}
	r.PerSec = float64(n) / r.Total.Seconds()
	logf("P2 wg: %d leases revoked, device empty %s after the call started (call %s), %.0f/s", n, r.Total.Round(time.Millisecond), call.Round(time.Millisecond), r.PerSec)
	return r, nil
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

package main

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/peerfeed"
)

// coldRound is one round of P4.
type coldRound struct {
	Gateway  time.Duration `json:"gateway_ns"`
	Syncconf time.Duration `json:"syncconf_ns"`
	// GatewayMem is the daemon's memory once converged: VmHWM is its
	// peak during the cold start.
	GatewayMem procMem `json:"gateway_mem"`
	// GatewayCPU is the CPU time the daemon spent until converged.
	GatewayCPU time.Duration `json:"gateway_cpu_ns"`
	// VaultCPU and PluginCPU are the CPU time Vault and the plugin spent
	// from the daemon's start until it converged: serving its login, CA
	// and pages (and whatever else ran meanwhile, which is little).
	VaultCPU  time.Duration `json:"vault_cpu_ns"`
	PluginCPU time.Duration `json:"plugin_cpu_ns"`
	// WireguardGoCPU and SyncconfWireguardGoCPU are the CPU time
	// wireguard-go spent taking the peers from wg-gateway and from
	// `wg syncconf`: the interface's own share of the work.
	WireguardGoCPU         time.Duration `json:"wireguard_go_cpu_ns"`
	SyncconfWireguardGoCPU time.Duration `json:"syncconf_wireguard_go_cpu_ns"`
	// WireguardGoReadCPU is the CPU time wireguard-go spends on one read
	// of the whole converged interface, as the bench makes once in
	// WireguardGoCPU (and `wg syncconf` not in its own).
	WireguardGoReadCPU time.Duration `json:"wireguard_go_read_cpu_ns"`
}

// runP4 measures wg-gateway's cold start with n live certificates: from
// starting the process (login, CA, full feed, verifying every
// certificate, applying) to the interface holding every peer, against
// `wg syncconf` of an identical n-peer configuration onto an empty
// interface. Each round uses fresh wireguard-go interfaces.
func (b *bench) runP4() error {
	n := b.p.ColdN
	wm, err := b.newWGMount("wg-p4", 104)
	if err != nil {
		return err
	}
	certs, err := b.issueMany(wm, n)
	if err != nil {
		return err
	}
	conf, err := writeSyncconf(filepath.Join(b.p.Out, "p4-syncconf.conf"), wm.gwKey, certs)
	if err != nil {
		return err
	}
	want := wantPeers(certs)
	ns, err := b.newNetns()
	if err != nil {
		return err
	}
	defer ns.del()

	pluginPID, err := b.vault.findPlugin()
	if err != nil {
		return err
	}
	var rounds []coldRound
	for i := range b.p.Rounds {
		var r coldRound
		// wg-gateway onto an empty interface.
		iface, err := b.newWG(ns)
		if err != nil {
			return err
		}
		var g *gatewayProc
		var at time.Time
		start := func() {
			vault0, plugin0, wg0 := procCPU(b.vault.Pid()), procCPU(pluginPID), procCPU(iface.pid())
			if g, err = b.startGateway(wm, iface, fmt.Sprintf("p4-%d", i+1)); err == nil {
				at, err = g.waitConverged(iface, n, 5*time.Minute)
			}
			r.VaultCPU, r.PluginCPU = procCPU(b.vault.Pid())-vault0, procCPU(pluginPID)-plugin0
			r.WireguardGoCPU = procCPU(iface.pid()) - wg0
		}
		if b.p.Profile && i == 0 {
			// The plugin's and Vault's side of the cold start too.
			b.profileDuring("p4-cold-start", 10, func(context.Context) { start() })
		} else {
			start()
		}
		if err != nil {
			return err
		}
		r.Gateway = at.Sub(g.started)
		r.GatewayCPU = procCPU(g.Pid())
		if r.GatewayMem, err = readMem(g.Pid()); err != nil {
			return err
		}
		// What one read of the whole interface costs wireguard-go: the
		// bench's read once the daemon is done is in WireguardGoCPU.
		wg1 := procCPU(iface.pid())
		if _, err := iface.peerCount(); err != nil {
			return err
		}
		r.WireguardGoReadCPU = procCPU(iface.pid()) - wg1
		if i == 0 {
			if err := checkPeers(iface, want); err != nil {
				return fmt.Errorf("wg-gateway: %w", err)
			}
		}
		g.stop()
		iface.stop()
		if b.p.Profile && i == 0 {
			b.savedProfile("p4-gateway-cold-start", g.profile)
		}

		// wg syncconf onto an empty interface.
		iface, err = b.newWG(ns)
		if err != nil {
			return err
		}
		wg0 := procCPU(iface.pid())
		if r.Syncconf, err = iface.syncconf(conf); err != nil {
			return err
		}
		r.SyncconfWireguardGoCPU = procCPU(iface.pid()) - wg0
		if i == 0 {
			if err := checkPeers(iface, want); err != nil {
				return fmt.Errorf("wg syncconf: %w", err)
			}
		} else if c, err := iface.peerCount(); err != nil || c != n {
			return fmt.Errorf("wg syncconf left %d peers, not %d (%v)", c, n, err)
		}
		iface.stop()
		logf("P4 round %d: wg-gateway %s (CPU %s, RSS %.0f MB, peak %.0f MB; Vault's CPU %s, the plugin's %s, wireguard-go's %s, in which one read of the interface, alone %s), wg syncconf %s (wireguard-go's CPU %s)", i+1, r.Gateway.Round(time.Millisecond),
			r.GatewayCPU, r.GatewayMem.MB(), r.GatewayMem.PeakMB(), r.VaultCPU, r.PluginCPU, r.WireguardGoCPU, r.WireguardGoReadCPU, r.Syncconf.Round(time.Millisecond), r.SyncconfWireguardGoCPU)
		rounds = append(rounds, r)
		if err := b.ctx.Err(); err != nil {
			return err
		}
	}
	// Breakdown: one full feed read as the daemon makes it at start (the
	// plugin builds the set, Vault re-encodes it), without the daemon.
	var feed []float64
	for range 3 {
		start := time.Now()
		code, body, err := b.vault.do("GET", wm.path+"/gateways/gw/peers", rootToken, nil)
		if err != nil || code != 200 {
			return fmt.Errorf("full feed read: status %d: %v", code, err)
		}
		feed = append(feed, time.Since(start).Seconds())
		if len(feed) == 1 {
			logf("P4 full feed of %d peers: %d bytes", n, len(body))
		}
	}
	logf("P4 breakdown: one full feed read takes %.3f s (median of 3)", median(feed))
	paged, err := b.pagedReadsCPU(wm, pluginPID, peerfeed.MaxPage, peerfeed.CertificateDER)
	if err != nil {
		return err
	}
	logf("P4 breakdown: a full read in pages of %d as the daemon reads it costs Vault %.0f ms and the plugin %.0f ms of CPU (%d reads)",
		peerfeed.MaxPage, paged.VaultUS/1000, paged.PluginUS/1000, paged.Reads)
	pagedPEM, err := b.pagedReadsCPU(wm, pluginPID, peerfeed.MaxPage, peerfeed.CertificatePEM)
	if err != nil {
		return err
	}
	logf("P4 breakdown: the same with PEM certificates (daemons before certificate_format) costs Vault %.0f ms and the plugin %.0f ms of CPU (%d reads)",
		pagedPEM.VaultUS/1000, pagedPEM.PluginUS/1000, pagedPEM.Reads)
	// Pages of a tenth: ten times the requests for the same bytes, so
	// the difference is what a request costs apart from its bytes.
	small, err := b.pagedReadsCPU(wm, pluginPID, peerfeed.MaxPage/10, peerfeed.CertificateDER)
	if err != nil {
		return err
	}
	extra := float64(pagesOf(n, peerfeed.MaxPage/10) - pagesOf(n, peerfeed.MaxPage))
	logf("P4 breakdown: in pages of %d it costs Vault %.0f ms and the plugin %.0f ms: %.0f and %.0f µs per request more",
		peerfeed.MaxPage/10, small.VaultUS/1000, small.PluginUS/1000, (small.VaultUS-paged.VaultUS)/extra, (small.PluginUS-paged.PluginUS)/extra)
	b.report.raw("P4", map[string]any{"peers": n, "rounds": rounds, "full_feed_read_s": feed, "paged_read_cpu": paged, "paged_read_pem_cpu": pagedPEM,
		"paged_read_small_pages_cpu": small})
	var gw, sc []float64
	for _, r := range rounds {
		gw, sc = append(gw, r.Gateway.Seconds()), append(sc, r.Syncconf.Seconds())
	}
	ratio := pairedRatios(gw, sc)
	goal := ratioGoal{Bound: 1.2, AtMost: true}
	b.report.raw("P4_ratio", ratio)
	b.report.add(row{ID: "P4", What: fmt.Sprintf("cold start, %d live certificates → converged interface", n),
		Ours: fmt.Sprintf("%.3f s", median(gw)), Anchor: fmt.Sprintf("%.3f s wg syncconf", median(sc)),
		Ratio: ratio.String(), Goal: "gateway/syncconf " + goal.String(), Verdict: goal.verdict(ratio)})
	var gwCPU, vaultCPU, pluginCPU, wgCPU, scCPU []float64
	for _, r := range rounds {
		gwCPU = append(gwCPU, float64(r.GatewayCPU.Milliseconds()))
		vaultCPU = append(vaultCPU, float64(r.VaultCPU.Milliseconds()))
		pluginCPU = append(pluginCPU, float64(r.PluginCPU.Milliseconds()))
		wgCPU = append(wgCPU, float64(r.WireguardGoCPU.Milliseconds()))
		scCPU = append(scCPU, float64(r.SyncconfWireguardGoCPU.Milliseconds()))
	}
	b.report.add(row{ID: "P4", What: fmt.Sprintf("extra: CPU per cold start of %d peers, wg-gateway / Vault / plugin / wireguard-go (median of %d rounds); a full read in pages of %d alone (DER certificates; PEM)", n, len(rounds), peerfeed.MaxPage),
		Ours: fmt.Sprintf("%.0f / %.0f / %.0f / %.0f ms; paged read: Vault %.0f ms, plugin %.0f ms (PEM: %.0f, %.0f ms)", median(gwCPU), median(vaultCPU), median(pluginCPU), median(wgCPU),
			paged.VaultUS/1000, paged.PluginUS/1000, pagedPEM.VaultUS/1000, pagedPEM.PluginUS/1000),
		Anchor: fmt.Sprintf("wireguard-go %.0f ms", median(scCPU))})
	if n >= 50000 {
		// The fleet-scale memory goal is for 50,000 peers: judge
		// the worst round.
		var worst procMem
		for _, r := range rounds {
			worst.RSSKB = max(worst.RSSKB, r.GatewayMem.RSSKB)
			worst.HWMKB = max(worst.HWMKB, r.GatewayMem.HWMKB)
		}
		b.report.add(row{ID: "P6", What: fmt.Sprintf("wg-gateway RSS after the cold start of %d peers, worst of %d rounds (at rest; peak = VmHWM)", n, len(rounds)),
			Ours: fmt.Sprintf("%.0f MB (peak %.0f MB)", worst.MB(), worst.PeakMB()), Goal: gatewayGoal, Verdict: gatewayVerdict(worst)})
	}
	return nil
}

// pagedCPU is the CPU time Vault and the plugin spend per full read of
// the feed in pages.
type pagedCPU struct {
	cpuUse
	Reads int `json:"reads"`
}

// pagesOf is how many pages a full read of n peers takes in pages of
// limit (the last one's delta read apart).
func pagesOf(n, limit int) int { return (n + limit - 1) / limit }

// pagedReadsCPU reads the gateway's full set in pages of limit (the
// daemon's: peerfeed.MaxPage), its certificates in format, one read
// after the other, and returns the CPU time Vault and the plugin spent
// per read: 10 reads, or in profile mode as many as fit in 10 s of CPU
// profiles of both.
func (b *bench) pagedReadsCPU(wm *wgMount, pluginPID, limit int, format string) (pagedCPU, error) {
	m := cpuMeter{vault: b.vault.Pid(), plugin: pluginPID}
	var res pagedCPU
	var err error
	reads := func(ctx context.Context) {
		res.cpuUse = m.measure(1, func() {
			for res.Reads < 10 || b.p.Profile && ctx.Err() == nil {
				if err = b.fullRead(wm, limit, format); err != nil {
					return
				}
				res.Reads++
			}
		})
	}
	if b.p.Profile {
		b.profileDuring(fmt.Sprintf("p4-paged-reads-%d-%s", limit, format), 10, reads)
	} else {
		reads(b.ctx)
	}
	if res.Reads > 0 {
		res.VaultUS /= float64(res.Reads)
		res.PluginUS /= float64(res.Reads)
		res.BenchUS /= float64(res.Reads)
	}
	return res, err
}

// writeSyncconf writes the wg(8) configuration of the gateway with every
// certificate's key and addresses as its peers.
func writeSyncconf(path string, key wgtypes.Key, certs []issued) (string, error) {
	var sb strings.Builder
	fmt.Fprintf(&sb, "[Interface]\nPrivateKey = %s\n", key)
	for _, c := range certs {
		fmt.Fprintf(&sb, "\n[Peer]\nPublicKey = %s\nAllowedIPs = %s\n", c.PublicKey, strings.Join(c.Addresses, ", "))
	}
	return path, os.WriteFile(path, []byte(sb.String()), 0o600)
}

// wantPeers is the interface the certificates call for.
func wantPeers(certs []issued) map[string][]string {
	out := make(map[string][]string, len(certs))
	for _, c := range certs {
		ips := append([]string(nil), c.Addresses...)
		slices.Sort(ips)
		out[c.PublicKey] = ips
	}
	return out
}

// checkPeers reads the interface and compares it with want, peer by peer.
func checkPeers(iface *wgIface, want map[string][]string) error {
	peers, err := iface.peers()
	if err != nil {
		return err
	}
	if len(peers) != len(want) {
		return fmt.Errorf("interface holds %d peers, want %d", len(peers), len(want))
	}
	for _, p := range peers {
		w, ok := want[p.PublicKey.String()]
		if !ok {
			return fmt.Errorf("unexpected peer %s", p.PublicKey)
		}
		var got []string
		for _, ip := range p.AllowedIPs {
			a, _ := netip.AddrFromSlice(ip.IP)
			ones, _ := ip.Mask.Size()
			got = append(got, netip.PrefixFrom(a.Unmap(), ones).String())
		}
		slices.Sort(got)
		if !slices.Equal(got, w) {
			return fmt.Errorf("peer %s: allowed IPs %v, want %v", p.PublicKey, got, w)
		}
	}
	return nil
}

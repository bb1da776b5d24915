package gateway

import (
	"net/netip"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/cmd/wg-gateway/firewall"
)

// A Firewall enforces the certificates' access policy in the kernel.
// *firewall.Firewall satisfies it.
type Firewall interface {
	// State is what the firewall holds.
	State() (*firewall.State, error)
	// Tighten applies a plan's first phase, before peers are added.
	Tighten(p firewall.Plan) error
	// Loosen applies a plan's second phase, after peers are removed.
	Loosen(p firewall.Plan) error
	// Dropped reads the drop counters: packets by rule-set id. It may be
	// called from another goroutine than the others.
	Dropped() (map[string]uint64, error)
}

// UseFirewall makes the daemon enforce certificates' access policy with
// fw (nil: it cannot, and refuses certificates that carry a policy). Call
// it before Run.
func (d *Daemon) UseFirewall(fw Firewall) {
	d.firewall = fw
	d.verifier.Enforce = fw != nil
	if fw != nil {
		d.metrics.registry.MustRegister(&droppedCollector{fw: fw, logger: d.logger.Named("firewall")})
	}
}

// planFirewall decides what the firewall should hold for the addresses
// the apply may have changed (within scope: every address for scopeAll
// and scopeFullRead,
// those of certificates put or removed since the last plan otherwise),
// and returns the plan with the state it was made from. ok is false when
// the firewall's state cannot be read.
func (d *Daemon) planFirewall(scope applyScope, now time.Time) (firewall.Plan, bool) {
	dirty := d.peers.takeDirty()
	if d.firewall == nil {
		return firewall.Plan{}, true
	}
	state, err := d.firewall.State()
	if err != nil {
		d.logger.Error("reading the firewall failed", "error", err)
		return firewall.Plan{}, false
	}
	want := make(map[netip.Addr]*firewall.RuleSet)
	if scope == scopeAll || scope == scopeFullRead {
		for a := range d.peers.byAddr {
			want[a] = d.peers.policyFor(a, now)
		}
		want = state.Full(want)
	}
	for a := range dirty {
		want[a] = d.peers.policyFor(a, now)
	}
	return state.Plan(want), true
}

// tighten applies the first phase of plan: before any peer is added,
// its rules are in place.
func (d *Daemon) tighten(p firewall.Plan) bool {
	if d.firewall == nil || !p.Tightens() {
		return true
	}
	if !d.firewallPhase(d.firewall.Tighten, p, "adding firewall rules failed; the peers they restrict wait") {
		return false
	}
	for _, rs := range p.AddSets {
		d.logger.Info("firewall rule set in place", "rule_set", rs.ID, "destinations", destinationsText(rs))
	}
	return true
}

// loosen applies the second phase of plan: after peers were removed,
// their rules go.
func (d *Daemon) loosen(p firewall.Plan) bool {
	if d.firewall == nil || !p.Loosens() {
		return true
	}
	return d.firewallPhase(d.firewall.Loosen, p, "removing firewall rules failed")
}

// firewallPhase applies one phase of p with apply, timing it, and logs
// failure with msg.
func (d *Daemon) firewallPhase(apply func(firewall.Plan) error, p firewall.Plan, msg string) bool {
	start := d.now()
	err := apply(p)
	d.metrics.firewallSeconds.Observe(d.now().Sub(start).Seconds())
	if err != nil {
		d.logger.Error(msg, "error", err)
		return false
	}
	return true
}

// destinationsText is a rule set's destinations as the role lists them.
func destinationsText(rs *firewall.RuleSet) []string {
	out := make([]string, len(rs.Destinations))
	for i, ds := range rs.Destinations {
		out[i] = ds.String()
	}
	return out
}

// droppedCollector exports the firewall's drop counters when scraped.
type droppedCollector struct {
	fw     Firewall
	logger interface{ Warn(string, ...any) }
}

var droppedDesc = prometheus.NewDesc("wg_gateway_firewall_dropped_packets_total",
	"Packets of restricted peers dropped for going where their certificate does not allow, by rule set (a role's destinations; the daemon logs each rule set's destinations when it adds it).",
	[]string{"rule_set"}, nil)

// Describe implements prometheus.Collector.
func (c *droppedCollector) Describe(ch chan<- *prometheus.Desc) { ch <- droppedDesc }

// Collect implements prometheus.Collector.
func (c *droppedCollector) Collect(ch chan<- prometheus.Metric) {
	dropped, err := c.fw.Dropped()
	if err != nil {
		c.logger.Warn("reading the firewall's counters failed", "error", err)
		return
	}
	for id, n := range dropped {
		ch <- prometheus.MustNewConstMetric(droppedDesc, prometheus.CounterValue, float64(n), id)
	}
}

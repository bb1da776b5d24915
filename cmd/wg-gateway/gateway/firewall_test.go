package gateway

import (
	"context"
	"encoding/json"
	"net/netip"
	"slices"
	"testing"
	"time"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/peerfeed"
	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/wgcert"
	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/wgkey"
	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/wgpolicy"
	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/cmd/wg-gateway/firewall"
)

// fakeFirewall keeps a firewall state in memory and notes, for each phase
// applied, how many configurations the device had received by then.
type fakeFirewall struct {
	state *firewall.State
	dev   *fakeDevice
	calls []fwCall
}

type fwCall struct {
	phase   string
	plan    firewall.Plan
	configs int
}

func (f *fakeFirewall) State() (*firewall.State, error) { return f.state, nil }
func (f *fakeFirewall) Tighten(p firewall.Plan) error {
	f.calls = append(f.calls, fwCall{"tighten", p, len(f.dev.configs)})
	f.state.CommitTighten(p)
	return nil
}
func (f *fakeFirewall) Loosen(p firewall.Plan) error {
	f.calls = append(f.calls, fwCall{"loosen", p, len(f.dev.configs)})
	f.state.CommitLoosen(p)
	return nil
}
func (f *fakeFirewall) Dropped() (map[string]uint64, error) { return nil, nil }

// policyEntry is a feed entry whose certificate carries destinations.
func (f *daemonFixture) policyEntry(t testing.TB, addr string, dests ...string) (peerfeed.Peer, wgtypes.Key) {
	t.Helper()
	ds, err := wgpolicy.Parse(dests)
	if err != nil {
		t.Fatal(err)
	}
	_, pub, _ := wgkey.Generate()
	serial, _ := wgcert.NewSerial()
	cert := f.sign(&wgcert.Template{
		SerialNumber: serial, CommonName: "dev", PublicKey: pub,
		Addresses: []netip.Addr{netip.MustParseAddr(addr)}, Gateways: []string{"gw1"},
		NotBefore: f.now.Add(-time.Minute), NotAfter: f.now.Add(time.Hour), Destinations: wgpolicy.Canonical(ds),
	})
	return peerfeed.Peer{SerialNumber: serial.Text(16), PublicKey: pub.String(), Certificate: cert}, pub
}

// TestFirewallFailsClosed: a restricted peer's rules are in place before
// the peer is added, and go only after it is removed; an unrestricted
// peer has no rules; the rules come from the certificate, whatever else
// the feed entry says.
func TestFirewallFailsClosed(t *testing.T) {
	f := newDaemonFixture(t, false, Interface{})
	fw := &fakeFirewall{state: firewall.NewState(), dev: f.dev}
	f.d.UseFirewall(fw)
	pools := []string{"10.77.0.0/24"}
	a, keyA := f.policyEntry(t, "10.77.0.2", "10.20.0.0/24", "10.30.0.0/24:443/tcp")
	// A tampered entry claiming more than its certificate: the gateway
	// reads no rules from the entry.
	raw, _ := json.Marshal(a)
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	m["allowed_destinations"] = []string{"0.0.0.0/0"}
	m["allowed_ips"] = []string{"10.77.0.2/32", "0.0.0.0/0"}
	raw, _ = json.Marshal(m)
	var tampered peerfeed.Peer
	if err := json.Unmarshal(raw, &tampered); err != nil {
		t.Fatal(err)
	}
	b, keyB := f.entry(t, "10.77.0.3", time.Hour)

	f.d.handle(context.Background(), &peerfeed.Response{Index: 1, Full: true, AddressPool: pools, Peers: []peerfeed.Peer{tampered, b}})
	if !f.dev.holds(keyA, keyB) {
		t.Fatalf("device holds %v", f.dev.peers)
	}
	if len(fw.calls) == 0 || fw.calls[0].phase != "tighten" || fw.calls[0].configs != 0 {
		t.Fatalf("the rules were not in place before the peer was added: %+v", fw.calls)
	}
	ds, _ := wgpolicy.Parse([]string{"10.20.0.0/24", "10.30.0.0/24:443/tcp"})
	want := firewall.NewRuleSet(wgpolicy.Canonical(ds))
	if got := fw.state.RuleSetOf(netip.MustParseAddr("10.77.0.2")); got != want.ID {
		t.Fatalf("rule set of a = %q, want the certificate's %q", got, want.ID)
	}
	if fw.state.Len() != 1 {
		t.Fatalf("restricted addresses %v: the unrestricted peer has an element", fw.state.Addrs())
	}

	// Revocation: the peer leaves the device first, then its rules.
	calls, configs := len(fw.calls), len(f.dev.configs)
	f.d.handle(context.Background(), &peerfeed.Response{Index: 2, AddressPool: pools,
		Removed: []peerfeed.Removal{{SerialNumber: a.SerialNumber, PublicKey: a.PublicKey}}})
	if f.dev.holds(keyA, keyB) || !f.dev.holds(keyB) {
		t.Fatalf("device holds %v after the revocation", f.dev.peers)
	}
	if len(fw.calls) != calls+1 || fw.calls[calls].phase != "loosen" || fw.calls[calls].configs != configs+1 {
		t.Fatalf("the rules went before the peer did: %+v", fw.calls[calls:])
	}
	if fw.state.Len() != 0 {
		t.Fatalf("rules left for %v", fw.state.Addrs())
	}
}

// TestPolicyUnenforceable: a gateway without a firewall never admits a
// certificate carrying rules, and says why.
func TestPolicyUnenforceable(t *testing.T) {
	f := newDaemonFixture(t, false, Interface{})
	f.d.UseFirewall(nil)
	a, _ := f.policyEntry(t, "10.77.0.2", "10.20.0.0/24")
	b, keyB := f.entry(t, "10.77.0.3", time.Hour)
	f.d.handle(context.Background(), &peerfeed.Response{Index: 1, Full: true, AddressPool: []string{"10.77.0.0/24"}, Peers: []peerfeed.Peer{a, b}})
	if !f.dev.holds(keyB) {
		t.Fatalf("device holds %v, want only the unrestricted peer", f.dev.peers)
	}
	if got := f.d.rejected[a.SerialNumber]; got != "policy_unenforceable" {
		t.Fatalf("rejection reason %q", got)
	}
	families, err := f.d.metrics.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, fam := range families {
		for _, m := range fam.GetMetric() {
			if fam.GetName() == "wg_gateway_rejected_certificates_total" && m.GetLabel()[0].GetValue() == "policy_unenforceable" && m.GetCounter().GetValue() == 1 {
				found = true
			}
		}
	}
	if !found {
		t.Fatal("no policy_unenforceable in wg_gateway_rejected_certificates_total")
	}
}

// TestPeersOfAPolicyShareItsRuleSet: the peers of one policy hold one
// rule set, not one each (50,000 peers of 10 roles would otherwise keep
// 50,000 copies).
func TestPeersOfAPolicyShareItsRuleSet(t *testing.T) {
	f := newDaemonFixture(t, false, Interface{})
	f.d.UseFirewall(&fakeFirewall{state: firewall.NewState(), dev: f.dev})
	pools := []netip.Prefix{netip.MustParsePrefix("10.77.0.0/24")}
	a, _ := f.policyEntry(t, "10.77.0.2", "10.20.0.0/24", "10.30.0.0/24:443/tcp")
	b, _ := f.policyEntry(t, "10.77.0.3", "10.20.0.0/24", "10.30.0.0/24:443/tcp")
	c, _ := f.policyEntry(t, "10.77.0.4", "10.20.0.0/24")
	peers, rejections := f.d.verifier.VerifyAll(f.now, []peerfeed.Peer{a, b, c}, pools)
	for i, r := range rejections {
		if r != nil {
			t.Fatalf("entry %d rejected: %v", i, r)
		}
	}
	if peers[0].Policy != peers[1].Policy {
		t.Error("two peers of one policy hold two rule sets")
	}
	if peers[0].Policy == peers[2].Policy || peers[2].Policy.ID == peers[0].Policy.ID {
		t.Error("peers of two policies share a rule set")
	}
}

// TestFullReadDropsStaleRules: rules the table holds for an address no
// certificate of the full set holds (left by an earlier run) go at the end
// of the full read, after the device no longer has the peer.
func TestFullReadDropsStaleRules(t *testing.T) {
	stale := key(43)
	f := newDaemonFixture(t, false, Interface{stale: pfx("10.77.0.9/32")})
	fw := &fakeFirewall{state: firewall.NewState(), dev: f.dev}
	ds, _ := wgpolicy.Parse([]string{"10.20.0.0/24"})
	rs := firewall.NewRuleSet(wgpolicy.Canonical(ds))
	staleAddr := netip.MustParseAddr("10.77.0.9")
	fw.state.CommitTighten(firewall.Plan{AddSets: []*firewall.RuleSet{rs}, Put: []firewall.Element{{Addr: staleAddr, ID: rs.ID}}})
	f.d.UseFirewall(fw)
	a, keyA := f.policyEntry(t, "10.77.0.2", "10.20.0.0/24")
	f.d.handle(context.Background(), &peerfeed.Response{Index: 1, Full: true, AddressPool: []string{"10.77.0.0/24"}, Peers: []peerfeed.Peer{a}})
	if !f.dev.holds(keyA) {
		t.Fatalf("device holds %v", f.dev.peers)
	}
	if got := fw.state.RuleSetOf(staleAddr); got != "" {
		t.Fatalf("the stale address still has rule set %q", got)
	}
	last := fw.calls[len(fw.calls)-1]
	if last.phase != "loosen" || last.configs != len(f.dev.configs) || !slices.Contains(last.plan.Delete, staleAddr) {
		t.Fatalf("the stale rules did not go after the device changed: %+v", fw.calls)
	}
}

// TestRuleSetsRememberOnlyVerifiedPolicies: the verifier decodes a policy
// encoding once for all the certificates that carry it, but remembers it
// only from a verified certificate: entries the CA did not sign take no
// memory, and what is remembered is what a signed certificate carried.
func TestRuleSetsRememberOnlyVerifiedPolicies(t *testing.T) {
	f := newDaemonFixture(t, false, Interface{})
	f.d.UseFirewall(&fakeFirewall{state: firewall.NewState(), dev: f.dev})
	pools := []netip.Prefix{netip.MustParsePrefix("10.77.0.0/24")}
	sign := f.sign
	_, f.sign = newTestCA(t, f.now) // a CA the gateway does not trust
	forged, _ := f.policyEntry(t, "10.77.0.5", "0.0.0.0/0")
	forgedSame, _ := f.policyEntry(t, "10.77.0.6", "10.20.0.0/24")
	f.sign = sign
	a, _ := f.policyEntry(t, "10.77.0.2", "10.20.0.0/24")
	b, _ := f.policyEntry(t, "10.77.0.3", "10.20.0.0/24")
	sets := f.d.verifier.ruleSets

	peers, rejections := f.d.verifier.VerifyAll(f.now, []peerfeed.Peer{forged, forgedSame}, pools)
	for i, r := range rejections {
		if r == nil || r.Reason != "authority" || peers[i].Policy != nil {
			t.Fatalf("forged entry %d: rejection %v, policy %v", i, r, peers[i].Policy)
		}
	}
	if len(sets.byDER) != 0 || len(sets.byID) != 0 {
		t.Fatalf("unsigned policies remembered: %d encodings, %d rule sets", len(sets.byDER), len(sets.byID))
	}
	peers, rejections = f.d.verifier.VerifyAll(f.now, []peerfeed.Peer{a, b}, pools)
	for i, r := range rejections {
		if r != nil {
			t.Fatalf("entry %d rejected: %v", i, r)
		}
	}
	if peers[0].Policy != peers[1].Policy || len(sets.byDER) != 1 || len(sets.byID) != 1 {
		t.Fatalf("one policy: rule sets %p %p, %d encodings, %d ids", peers[0].Policy, peers[1].Policy, len(sets.byDER), len(sets.byID))
	}
	if got := destinationsText(peers[1].Policy); !slices.Equal(got, []string{"10.20.0.0/24"}) {
		t.Fatalf("destinations %v", got)
	}
}

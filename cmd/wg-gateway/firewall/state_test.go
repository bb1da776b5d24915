package firewall

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/wgpolicy"
)

func TestPlan(t *testing.T) {
	a := NewRuleSet([]wgpolicy.Destination{{Prefix: netip.MustParsePrefix("10.20.0.0/24")}})
	b := NewRuleSet([]wgpolicy.Destination{{Prefix: netip.MustParsePrefix("10.30.0.0/24"), Proto: wgpolicy.ProtoTCP, PortLo: 443, PortHi: 443}})
	ip1, ip2, ip3 := netip.MustParseAddr("100.64.0.1"), netip.MustParseAddr("100.64.0.2"), netip.MustParseAddr("fd00::3")
	type step struct {
		want map[netip.Addr]*RuleSet
		full bool
		plan Plan
	}
	for _, tc := range []struct {
		name   string
		loaded []Element
		ids    []string
		steps  []step
	}{
		{name: "first peer of a role adds its chain and one element; the second only an element", steps: []step{
			{want: map[netip.Addr]*RuleSet{ip1: a}, plan: Plan{AddSets: []*RuleSet{a}, Put: []Element{{ip1, a.ID}}}},
			{want: map[netip.Addr]*RuleSet{ip2: a}, plan: Plan{Put: []Element{{ip2, a.ID}}}},
			{want: map[netip.Addr]*RuleSet{ip1: nil}, plan: Plan{Delete: []netip.Addr{ip1}}},
			{want: map[netip.Addr]*RuleSet{ip2: nil}, plan: Plan{Delete: []netip.Addr{ip2}, DropSets: []string{a.ID}}},
		}},
		{name: "a peer without policy has no element", steps: []step{
			{want: map[netip.Addr]*RuleSet{ip1: nil}, plan: Plan{}},
		}},
		{name: "an address changing role moves its element and drops the unused chain", steps: []step{
			{want: map[netip.Addr]*RuleSet{ip1: a, ip3: b}, plan: Plan{AddSets: []*RuleSet{a, b}, Put: []Element{{ip1, a.ID}, {ip3, b.ID}}}},
			{want: map[netip.Addr]*RuleSet{ip1: b}, plan: Plan{Put: []Element{{ip1, b.ID}}, DropSets: []string{a.ID}}},
		}},
		{name: "a full comparison removes what is no longer wanted", steps: []step{
			{want: map[netip.Addr]*RuleSet{ip1: a, ip2: b}, plan: Plan{AddSets: []*RuleSet{a, b}, Put: []Element{{ip1, a.ID}, {ip2, b.ID}}}},
			{want: map[netip.Addr]*RuleSet{ip2: b}, full: true, plan: Plan{Delete: []netip.Addr{ip1}, DropSets: []string{a.ID}}},
		}},
		{name: "a table of an earlier run: wanted chains are rewritten, others dropped with their elements",
			loaded: []Element{{ip1, a.ID}, {ip2, "0123456789abcdef"}}, ids: []string{a.ID, "0123456789abcdef"},
			steps: []step{
				{want: map[netip.Addr]*RuleSet{ip1: a}, full: true, plan: Plan{AddSets: []*RuleSet{a}, Delete: []netip.Addr{ip2}, DropSets: []string{"0123456789abcdef"}}},
				{want: map[netip.Addr]*RuleSet{ip3: a}, plan: Plan{Put: []Element{{ip3, a.ID}}}},
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := NewState()
			s.load(tc.loaded, tc.ids)
			for i, st := range tc.steps {
				want := st.want
				if st.full {
					want = s.Full(want)
				}
				got := s.Plan(want)
				if diff := cmp.Diff(st.plan, got, cmpopts.EquateEmpty(), cmpopts.SortSlices(func(x, y *RuleSet) bool { return x.ID < y.ID }), cmp.Comparer(func(x, y netip.Addr) bool { return x == y }), cmp.Comparer(func(x, y netip.Prefix) bool { return x == y })); diff != "" {
					t.Fatalf("step %d: plan (-want +got):\n%s", i, diff)
				}
				s.CommitTighten(got)
				s.CommitLoosen(got)
			}
		})
	}
}

func TestTableName(t *testing.T) {
	if got := TableName("wg-gw.0"); got != "wg_gateway_wg_gw_0" {
		t.Fatalf("TableName = %q", got)
	}
}

package device

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"
)

func prefixes(ss ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range ss {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

func TestPlanLink(t *testing.T) {
	for _, tc := range []struct {
		name                   string
		current, want, allowed []netip.Prefix
		plan                   LinkPlan
	}{
		{
			name: "fresh interface", want: prefixes("10.77.0.2/32"), allowed: prefixes("10.77.0.0/16"),
			plan: LinkPlan{Add: prefixes("10.77.0.2/32"), Routes: prefixes("10.77.0.0/16")},
		},
		{
			name: "rotation: new address added, old one deleted", current: prefixes("10.77.0.2/32"),
			want: prefixes("10.77.0.3/32"), allowed: prefixes("10.77.0.0/16"),
			plan: LinkPlan{Add: prefixes("10.77.0.3/32"), Del: prefixes("10.77.0.2/32"), Routes: prefixes("10.77.0.0/16")},
		},
		{
			name: "same lease again: nothing to add or delete", current: prefixes("10.77.0.2/32", "fd77::2/128"),
			want: prefixes("fd77::2/128", "10.77.0.2/32"), allowed: prefixes("10.77.0.0/16", "fd77::/64"),
			plan: LinkPlan{Routes: prefixes("10.77.0.0/16", "fd77::/64")},
		},
		{
			name: "stale addresses of an earlier run go", current: prefixes("10.77.0.9/32", "192.0.2.1/24"),
			want: prefixes("10.77.0.2/32"), allowed: prefixes("10.77.0.0/16"),
			plan: LinkPlan{Add: prefixes("10.77.0.2/32"), Del: prefixes("10.77.0.9/32", "192.0.2.1/24"), Routes: prefixes("10.77.0.0/16")},
		},
		{
			name: "default routes are skipped, host bits masked, duplicates dropped",
			want: prefixes("10.77.0.2/32"), allowed: prefixes("0.0.0.0/0", "::/0", "10.77.0.5/16", "10.77.0.0/16"),
			plan: LinkPlan{Add: prefixes("10.77.0.2/32"), Routes: prefixes("10.77.0.0/16"), Skipped: prefixes("0.0.0.0/0", "::/0")},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.plan, PlanLink(tc.current, tc.want, tc.allowed))
		})
	}
}

func TestParseIPAddrJSON(t *testing.T) {
	// ip -j addr show dev wg0 (iproute2 6.1), a wireguard-go interface with
	// an IPv4 and an IPv6 tunnel address, and a link-local one.
	out := []byte(`[{"ifindex":5,"ifname":"wg0","flags":["POINTOPOINT","NOARP","UP","LOWER_UP"],"mtu":1420,
	"qdisc":"fq_codel","operstate":"UNKNOWN","group":"default","txqlen":500,"link_type":"none",
	"addr_info":[{"family":"inet","local":"10.77.0.2","prefixlen":32,"scope":"global","label":"wg0",
	"valid_life_time":4294967295,"preferred_life_time":4294967295},
	{"family":"inet6","local":"fd77::2","prefixlen":128,"scope":"global","valid_life_time":4294967295,"preferred_life_time":4294967295},
	{"family":"inet6","local":"fe80::1","prefixlen":64,"scope":"link","valid_life_time":4294967295,"preferred_life_time":4294967295}]}]`)
	got, err := ParseIPAddrJSON(out)
	require.NoError(t, err)
	require.Equal(t, prefixes("10.77.0.2/32", "fd77::2/128"), got)

	got, err = ParseIPAddrJSON([]byte(`[{"ifname":"wg0","addr_info":[]}]`))
	require.NoError(t, err)
	require.Empty(t, got)

	_, err = ParseIPAddrJSON([]byte(`Device "wg0" does not exist.`))
	require.Error(t, err)
	_, err = ParseIPAddrJSON([]byte(`[{"addr_info":[{"local":"10.77.0.2","prefixlen":33,"scope":"global"}]}]`))
	require.ErrorContains(t, err, "prefix length 33")
}

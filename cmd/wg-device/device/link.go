package device

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
)

// A LinkPlan is what to change on the device's interface for a lease: the
// addresses to add and delete, and the routes to put through it.
type LinkPlan struct {
	Add, Del []netip.Prefix
	// Routes are the gateway's allowed IPs, routed to the interface the way
	// wg-quick does.
	Routes []netip.Prefix
	// Skipped are allowed IPs not routed: default routes (/0), which need
	// wg-quick's policy routing to keep the endpoint outside the tunnel.
	Skipped []netip.Prefix
}

// PlanLink plans the interface change from its current addresses to the
// lease's: the interface belongs to wg-device, so its addresses become
// exactly the lease's.
func PlanLink(current, want, allowed []netip.Prefix) LinkPlan {
	var p LinkPlan
	for _, w := range want {
		if !slices.Contains(current, w) {
			p.Add = append(p.Add, w)
		}
	}
	for _, c := range current {
		if !slices.Contains(want, c) {
			p.Del = append(p.Del, c)
		}
	}
	for _, a := range allowed {
		a = a.Masked()
		switch {
		case a.Bits() == 0:
			p.Skipped = append(p.Skipped, a)
		case !slices.Contains(p.Routes, a):
			p.Routes = append(p.Routes, a)
		}
	}
	return p
}

// ipAddrShow is the part of `ip -j addr show` output PlanLink needs.
type ipAddrShow []struct {
	AddrInfo []struct {
		Local     string `json:"local"`
		PrefixLen int    `json:"prefixlen"`
		Scope     string `json:"scope"`
	} `json:"addr_info"`
}

// ParseIPAddrJSON reads the global-scope addresses from the output of
// `ip -j addr show dev IFACE`. Link-local and host addresses are not the
// device's to manage.
func ParseIPAddrJSON(out []byte) ([]netip.Prefix, error) {
	var links ipAddrShow
	if err := json.Unmarshal(out, &links); err != nil {
		return nil, fmt.Errorf("ip -j addr show: %w", err)
	}
	var addrs []netip.Prefix
	for _, link := range links {
		for _, a := range link.AddrInfo {
			if a.Scope != "global" {
				continue
			}
			addr, err := netip.ParseAddr(a.Local)
			if err != nil {
				return nil, fmt.Errorf("ip -j addr show: %w", err)
			}
			if a.PrefixLen < 0 || a.PrefixLen > addr.BitLen() {
				return nil, fmt.Errorf("ip -j addr show: prefix length %d of %s", a.PrefixLen, addr)
			}
			addrs = append(addrs, netip.PrefixFrom(addr, a.PrefixLen))
		}
	}
	return addrs, nil
}

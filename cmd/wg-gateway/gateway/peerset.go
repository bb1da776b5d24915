package gateway

import (
	"net"
	"net/netip"
	"slices"
	"time"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/cmd/wg-gateway/firewall"
)

// A Peer is a verified device: what its certificate says.
type Peer struct {
	Serial     string
	Key        wgtypes.Key
	AllowedIPs []netip.Prefix
	// NotBefore orders certificates that share an address (a rotation):
	// the later one owns it.
	NotBefore time.Time
	NotAfter  time.Time
	// Policy is what the certificate allows the peer to reach; nil when
	// it carries no policy (the peer is not restricted).
	Policy *firewall.RuleSet
}

// A Set is the verified peers of a gateway by serial.
type Set map[string]Peer

// Interface is what a WireGuard interface holds, or should: the allowed IPs
// of each peer key, sorted.
type Interface map[wgtypes.Key][]netip.Prefix

// Desired is the interface the set calls for at now: every peer whose
// certificate has not expired, with the addresses of all its live
// certificates (a key may be certified twice during a re-issue). An address
// that two live certificates share (a rotation that keeps it) goes to the
// newer one only, the later NotBefore (then the higher serial) winning: the
// older peer stays, with what it does not share, until its certificate
// leaves.
func (s Set) Desired(now time.Time) Interface {
	out := make(Interface, len(s))
	// owner is the serial of the newest live certificate of each address
	// (certificates hold host prefixes: the address is the key); holders,
	// for the few addresses more than one certificate holds, all of them.
	owner := make(map[[16]byte]string, 2*len(s))
	var holders map[[16]byte][]string
	for serial, p := range s {
		if now.After(p.NotAfter) {
			continue
		}
		out[p.Key] = append(out[p.Key], p.AllowedIPs...)
		for _, ip := range p.AllowedIPs {
			a := ip.Addr().As16()
			cur, ok := owner[a]
			if !ok {
				owner[a] = serial
				continue
			}
			if holders == nil {
				holders = make(map[[16]byte][]string)
			}
			if len(holders[a]) == 0 {
				holders[a] = []string{cur}
			}
			holders[a] = append(holders[a], serial)
			if newer(p, s[cur]) {
				owner[a] = serial
			}
		}
	}
	// A shared address stays with its owner's key only.
	for a, serials := range holders {
		winner := s[owner[a]].Key
		for _, h := range serials {
			if k := s[h].Key; k != winner {
				out[k] = slices.DeleteFunc(out[k], func(ip netip.Prefix) bool { return ip.Addr().As16() == a })
			}
		}
	}
	for k, ips := range out {
		out[k] = sortPrefixes(ips)
	}
	return out
}

// newer reports whether a's certificate is newer than b's: a later
// NotBefore, or at the same NotBefore the higher serial.
func newer(a, b Peer) bool {
	if !a.NotBefore.Equal(b.NotBefore) {
		return a.NotBefore.After(b.NotBefore)
	}
	return a.Serial > b.Serial
}

// sortPrefixes sorts and de-duplicates prefixes.
func sortPrefixes(ips []netip.Prefix) []netip.Prefix {
	slices.SortFunc(ips, func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return a.Bits() - b.Bits()
	})
	return slices.Compact(ips)
}

// Diff returns the peer changes that take an interface from current to
// desired: removals of peers no longer wanted, additions, and allowed-IP
// replacements of peers whose addresses changed. Peers of current that keep
// reports true for are left alone when desired lacks them (the unmanaged
// ones, with -keep-unmanaged). Diff never replaces the peer list wholesale.
func Diff(current, desired Interface, keep func(wgtypes.Key, []netip.Prefix) bool) []wgtypes.PeerConfig {
	var out []wgtypes.PeerConfig
	for key, ips := range current {
		if _, ok := desired[key]; ok || (keep != nil && keep(key, ips)) {
			continue
		}
		out = append(out, wgtypes.PeerConfig{PublicKey: key, Remove: true})
	}
	for key, ips := range desired {
		if have, ok := current[key]; ok && slices.Equal(have, ips) {
			continue
		}
		out = append(out, wgtypes.PeerConfig{
			PublicKey:         key,
			ReplaceAllowedIPs: true,
			AllowedIPs:        ipNets(ips),
		})
	}
	// Removals first, then in key order: deterministic, and a key that
	// moves from one peer to another never collides.
	slices.SortStableFunc(out, func(a, b wgtypes.PeerConfig) int {
		if a.Remove != b.Remove {
			if a.Remove {
				return -1
			}
			return 1
		}
		return slices.Compare(a.PublicKey[:], b.PublicKey[:])
	})
	return out
}

// Apply returns current with the changes made, as the interface will be.
func (i Interface) Apply(changes []wgtypes.PeerConfig) Interface {
	for _, c := range changes {
		if c.Remove {
			delete(i, c.PublicKey)
			continue
		}
		i[c.PublicKey] = prefixes(c.AllowedIPs)
	}
	return i
}

// FromDevice reads an interface's peers as wgctrl reports them.
func FromDevice(peers []wgtypes.Peer) Interface {
	out := make(Interface, len(peers))
	for _, p := range peers {
		out[p.PublicKey] = sortPrefixes(prefixes(p.AllowedIPs))
	}
	return out
}

func ipNets(ps []netip.Prefix) []net.IPNet {
	out := make([]net.IPNet, len(ps))
	for i, p := range ps {
		out[i] = net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
	}
	return out
}

func prefixes(ns []net.IPNet) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(ns))
	for _, n := range ns {
		a, ok := netip.AddrFromSlice(n.IP)
		if !ok {
			continue
		}
		ones, _ := n.Mask.Size()
		if a.Is4In6() && ones >= 96 {
			a, ones = a.Unmap(), ones-96
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), ones))
	}
	return out
}

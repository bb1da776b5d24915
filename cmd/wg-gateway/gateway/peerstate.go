package gateway

import (
	"container/heap"
	"net/netip"
	"slices"
	"time"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/cmd/wg-gateway/firewall"
)

// peerState is the daemon's verified peers, indexed so that a change costs
// in proportion to its size, not to the number of peers: by serial, by key
// (a key may be certified more than once during a re-issue), by address
// (a rotation may keep one), and by expiry.
type peerState struct {
	bySerial Set
	// byKey and byAddr hold the serials of each key and address: one,
	// but for the moments of a re-issue or rotation (a slice of one
	// costs a tenth of a map of one, at 50,000 peers tens of megabytes).
	byKey  map[wgtypes.Key][]string
	byAddr map[netip.Addr][]string
	expiry expiryHeap
	// dirty holds the addresses of certificates put or removed since the
	// firewall was last planned (takeDirty).
	dirty map[netip.Addr]bool
}

func newPeerState() *peerState {
	return &peerState{bySerial: make(Set), byKey: make(map[wgtypes.Key][]string),
		byAddr: make(map[netip.Addr][]string), dirty: make(map[netip.Addr]bool)}
}

// len is the number of verified certificates.
func (s *peerState) len() int { return len(s.bySerial) }

// put adds or replaces a peer, noting in touched the keys whose desired
// state may have changed.
func (s *peerState) put(p Peer, touched map[wgtypes.Key]bool) {
	s.remove(p.Serial, touched)
	s.bySerial[p.Serial] = p
	s.byKey[p.Key] = append(s.byKey[p.Key], p.Serial)
	for _, ip := range p.AllowedIPs {
		a := ip.Addr()
		s.byAddr[a] = append(s.byAddr[a], p.Serial)
		s.dirty[a] = true
		s.touchHolders(a, touched)
	}
	heap.Push(&s.expiry, expiryEntry{at: p.NotAfter, serial: p.Serial})
	touched[p.Key] = true
}

// touchHolders notes in touched the keys of every certificate holding the
// address a: which of them owns it may have changed.
func (s *peerState) touchHolders(a netip.Addr, touched map[wgtypes.Key]bool) {
	for _, serial := range s.byAddr[a] {
		touched[s.bySerial[serial].Key] = true
	}
}

// remove drops a serial, noting its key in touched.
func (s *peerState) remove(serial string, touched map[wgtypes.Key]bool) {
	p, ok := s.bySerial[serial]
	if !ok {
		return
	}
	delete(s.bySerial, serial)
	dropSerial(s.byKey, p.Key, serial)
	for _, ip := range p.AllowedIPs {
		a := ip.Addr()
		dropSerial(s.byAddr, a, serial)
		s.dirty[a] = true
		s.touchHolders(a, touched) // another may own it now
	}
	touched[p.Key] = true
}

// dropSerial removes serial from m's serials of k, and k when none is
// left.
func dropSerial[K comparable](m map[K][]string, k K, serial string) {
	serials := slices.DeleteFunc(m[k], func(s string) bool { return s == serial })
	if len(serials) == 0 {
		delete(m, k)
		return
	}
	m[k] = serials
}

// dropExpired removes the peers whose certificate expired before now and
// returns them.
func (s *peerState) dropExpired(now time.Time, touched map[wgtypes.Key]bool) []Peer {
	var out []Peer
	for s.expiry.Len() > 0 && now.After(s.expiry[0].at) {
		e := heap.Pop(&s.expiry).(expiryEntry)
		p, ok := s.bySerial[e.serial]
		if !ok || !p.NotAfter.Equal(e.at) {
			continue // removed or replaced since: a stale entry
		}
		s.remove(e.serial, touched)
		out = append(out, p)
	}
	return out
}

// nextExpiry is the earliest NotAfter of a live peer, or zero.
func (s *peerState) nextExpiry() time.Time {
	for s.expiry.Len() > 0 {
		e := s.expiry[0]
		if p, ok := s.bySerial[e.serial]; ok && p.NotAfter.Equal(e.at) {
			return e.at
		}
		heap.Pop(&s.expiry) // stale
	}
	return time.Time{}
}

// desiredFor is what the interface should hold for key at now, as
// Set.Desired decides it: the addresses of its unexpired certificates that
// no newer certificate of another key shares, or nil for no peer.
func (s *peerState) desiredFor(key wgtypes.Key, now time.Time) []netip.Prefix {
	var ips []netip.Prefix
	for _, serial := range s.byKey[key] {
		p := s.bySerial[serial]
		if now.After(p.NotAfter) {
			continue
		}
		if ips == nil {
			ips = []netip.Prefix{}
		}
		for _, ip := range p.AllowedIPs {
			if s.ownerKey(ip.Addr(), now) == key {
				ips = append(ips, ip)
			}
		}
	}
	if ips == nil {
		return nil
	}
	return sortPrefixes(ips)
}

// owner is the newest unexpired certificate holding addr at now (as in
// Set.Desired), or nil.
func (s *peerState) owner(addr netip.Addr, now time.Time) *Peer {
	var owner *Peer
	for _, serial := range s.byAddr[addr] {
		p := s.bySerial[serial]
		if now.After(p.NotAfter) {
			continue
		}
		if owner == nil || newer(p, *owner) {
			owner = &p
		}
	}
	return owner
}

// ownerKey is the key of the certificate that owns addr on the interface at
// now; the zero key when none does.
func (s *peerState) ownerKey(addr netip.Addr, now time.Time) wgtypes.Key {
	if o := s.owner(addr, now); o != nil {
		return o.Key
	}
	return wgtypes.Key{}
}

// policyFor is the rule set the firewall enforces for addr at now: the
// policy of the certificate that owns the address on the interface (the
// newest live one holding it, as in Set.Desired), nil when that
// certificate carries none or no live certificate holds addr.
func (s *peerState) policyFor(addr netip.Addr, now time.Time) *firewall.RuleSet {
	if o := s.owner(addr, now); o != nil {
		return o.Policy
	}
	return nil
}

// takeDirty returns the addresses put or removed since the last call.
func (s *peerState) takeDirty() map[netip.Addr]bool {
	d := s.dirty
	s.dirty = make(map[netip.Addr]bool)
	return d
}

// expiryEntry is one certificate's expiry in the heap.
type expiryEntry struct {
	at     time.Time
	serial string
}

// expiryHeap is a min-heap of expiries; entries of removed or replaced
// peers stay until they surface and are skipped then.
type expiryHeap []expiryEntry

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h expiryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap) Push(x any)        { *h = append(*h, x.(expiryEntry)) }
func (h *expiryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

package firewall

import (
	"net/netip"
	"slices"
	"strings"
)

// State is what the firewall's table holds: each restricted address's
// rule set, and the rule sets. The daemon keeps it in step with the
// kernel: Plan compares it with what is wanted, and Commit records a
// phase once applied.
type State struct {
	addrs map[netip.Addr]string // address → rule-set id
	sets  map[string]*RuleSet   // id → rule set; Destinations nil: found in the kernel, not yet rewritten
	refs  map[string]int        // id → addresses using it
}

// NewState returns an empty state: no table, or an empty one.
func NewState() *State {
	return &State{addrs: make(map[netip.Addr]string), sets: make(map[string]*RuleSet), refs: make(map[string]int)}
}

// Len is the number of restricted addresses.
func (s *State) Len() int { return len(s.addrs) }

// Addrs returns the restricted addresses.
func (s *State) Addrs() []netip.Addr {
	out := make([]netip.Addr, 0, len(s.addrs))
	for a := range s.addrs {
		out = append(out, a)
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out
}

// RuleSetOf returns the id of addr's rule set, or "" when addr is not
// restricted.
func (s *State) RuleSetOf(addr netip.Addr) string { return s.addrs[addr] }

// An Element is one entry of the verdict map: an address and the rule
// set it jumps to.
type Element struct {
	Addr netip.Addr
	ID   string
}

// A Plan takes the table from one state to another in two phases, so that
// enforcement never lags the interface: Tighten (rule sets created or
// rewritten, elements added or changed) runs before peers are added to
// the interface; Loosen (elements deleted, unused rule sets dropped) after
// peers are removed from it.
type Plan struct {
	AddSets  []*RuleSet
	Put      []Element
	Delete   []netip.Addr
	DropSets []string
}

// Tightens reports whether the plan's first phase changes anything.
func (p Plan) Tightens() bool { return len(p.AddSets) > 0 || len(p.Put) > 0 }

// Loosens reports whether the plan's second phase changes anything.
func (p Plan) Loosens() bool { return len(p.Delete) > 0 || len(p.DropSets) > 0 }

// Plan compares the state with want, which names the addresses to
// decide and for each its rule set, nil for none (unrestricted or gone);
// addresses want does not name are left as they are. Rule sets no
// address uses any more are dropped.
func (s *State) Plan(want map[netip.Addr]*RuleSet) Plan {
	var p Plan
	refs := make(map[string]int)
	added := make(map[string]bool)
	for addr, rs := range want {
		cur, has := s.addrs[addr]
		switch {
		case rs == nil && has:
			p.Delete = append(p.Delete, addr)
			refs[cur]--
		case rs != nil && (!has || cur != rs.ID):
			p.Put = append(p.Put, Element{Addr: addr, ID: rs.ID})
			if has {
				refs[cur]--
			}
			refs[rs.ID]++
		}
		if rs != nil && !added[rs.ID] {
			if known, ok := s.sets[rs.ID]; !ok || known.Destinations == nil {
				p.AddSets = append(p.AddSets, rs)
			}
			added[rs.ID] = true
		}
	}
	for id := range s.sets {
		if s.refs[id]+refs[id] <= 0 && !added[id] {
			p.DropSets = append(p.DropSets, id)
		}
	}
	slices.SortFunc(p.AddSets, func(a, b *RuleSet) int { return strings.Compare(a.ID, b.ID) })
	slices.SortFunc(p.Put, func(a, b Element) int { return a.Addr.Compare(b.Addr) })
	slices.SortFunc(p.Delete, netip.Addr.Compare)
	slices.Sort(p.DropSets)
	return p
}

// Full returns want with every restricted address of the state that want
// does not name mapped to nil: the want of a full comparison.
func (s *State) Full(want map[netip.Addr]*RuleSet) map[netip.Addr]*RuleSet {
	out := make(map[netip.Addr]*RuleSet, len(want)+len(s.addrs))
	for a := range s.addrs {
		out[a] = nil
	}
	for a, rs := range want {
		out[a] = rs
	}
	return out
}

// CommitTighten records that the plan's first phase is in the kernel.
func (s *State) CommitTighten(p Plan) {
	for _, rs := range p.AddSets {
		s.sets[rs.ID] = rs
	}
	for _, e := range p.Put {
		if cur, ok := s.addrs[e.Addr]; ok {
			s.refs[cur]--
		}
		s.addrs[e.Addr] = e.ID
		s.refs[e.ID]++
	}
}

// CommitLoosen records that the plan's second phase is in the kernel.
func (s *State) CommitLoosen(p Plan) {
	for _, a := range p.Delete {
		if cur, ok := s.addrs[a]; ok {
			s.refs[cur]--
			delete(s.addrs, a)
		}
	}
	for _, id := range p.DropSets {
		delete(s.sets, id)
		delete(s.refs, id)
	}
}

// load records what the kernel's table holds: elements and the ids of
// rule-set chains, whose rules are rewritten when first wanted.
func (s *State) load(elems []Element, ids []string) {
	for _, id := range ids {
		s.sets[id] = &RuleSet{ID: id}
	}
	for _, e := range elems {
		if _, ok := s.sets[e.ID]; !ok {
			continue // a jump to no chain cannot be; ignore it
		}
		s.addrs[e.Addr] = e.ID
		s.refs[e.ID]++
	}
}

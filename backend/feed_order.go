package backend

import (
	"slices"
	"sort"
	"strings"
)

// A peerOrder is a gateway's live peers at one revision, sorted by serial:
// the full answer and its pages are cut from it. It is shared by every
// reader of that revision and never changed once built (records are
// immutable once committed), so readers use it without the registry's
// lock. The feed keeps the latest one built: the next is built from it and
// the changes since, a merge, not a sort of every peer again.
type peerOrder struct {
	index uint64
	recs  []*certRecord
}

// page returns the peers of o whose serial comes after after (every one
// when after is empty), at most limit of them (0: no limit), and the
// serial of the page's last peer when more remain, empty otherwise.
func (o *peerOrder) page(after string, limit int) ([]*certRecord, string) {
	i := 0
	if after != "" {
		i = sort.Search(len(o.recs), func(i int) bool { return o.recs[i].SerialNumber > after })
	}
	rest := o.recs[i:]
	if limit <= 0 || len(rest) <= limit {
		return rest, ""
	}
	return rest[:limit], rest[limit-1].SerialNumber
}

// orderChange is a serial changed since a base order: its live record at
// the plan's revision, nil when it is not live.
type orderChange struct {
	serial string
	rec    *certRecord
}

// An orderPlan is what building the peer order of one revision needs, as
// taken under the registry's lock: the order itself when it is built
// (ready), or an older one and the serials changed since (base, changed),
// or else every live record (all). build does the work after the lock is
// released.
type orderPlan struct {
	feed    *gatewayFeed // where the order built is kept
	index   uint64
	ready   *peerOrder
	base    *peerOrder
	changed []orderChange
	all     []*certRecord
}

// planOrder takes the plan of the peer order at the feed's revision; the
// caller holds the registry's lock. It costs the changes since the kept
// order, or one pass over the live peers when that order is too old (its
// changes left the log, or they outnumber the peers).
func (f *gatewayFeed) planOrder() orderPlan {
	p := orderPlan{feed: f, index: f.index}
	o := f.order
	switch {
	case o != nil && o.index == f.index:
		p.ready = o
	case o != nil && o.index >= f.floor && o.index < f.index && f.index-o.index <= uint64(len(f.live)):
		p.base = o
		f.latest(o.index, func(c feedChange) {
			p.changed = append(p.changed, orderChange{serial: c.serial, rec: f.live[c.serial]})
		})
	default:
		p.all = make([]*certRecord, 0, len(f.live))
		for _, rec := range f.live {
			p.all = append(p.all, rec)
		}
	}
	return p
}

// build makes the order the plan describes, without the registry's lock.
func (p orderPlan) build() *peerOrder {
	if p.ready != nil {
		return p.ready
	}
	if p.base == nil {
		slices.SortFunc(p.all, bySerial)
		return &peerOrder{index: p.index, recs: p.all}
	}
	return &peerOrder{index: p.index, recs: mergeChanges(p.base.recs, p.changed)}
}

// mergeChanges returns the sorted records of base with changed applied:
// a changed serial's record replaces its old one, or drops it when nil.
// changed holds each serial once; it is sorted here.
func mergeChanges(base []*certRecord, changed []orderChange) []*certRecord {
	slices.SortFunc(changed, func(a, b orderChange) int { return strings.Compare(a.serial, b.serial) })
	out := make([]*certRecord, 0, len(base)+len(changed))
	i, j := 0, 0
	for i < len(base) || j < len(changed) {
		var cmp int
		switch {
		case j == len(changed):
			cmp = -1
		case i == len(base):
			cmp = 1
		default:
			cmp = strings.Compare(base[i].SerialNumber, changed[j].serial)
		}
		if cmp < 0 {
			out = append(out, base[i])
			i++
			continue
		}
		if cmp == 0 {
			i++
		}
		if rec := changed[j].rec; rec != nil {
			out = append(out, rec)
		}
		j++
	}
	return out
}

// bySerial orders records by serial.
func bySerial(a, b *certRecord) int { return strings.Compare(a.SerialNumber, b.SerialNumber) }

// order returns the peer order p plans, building it when it is not built
// yet and keeping it in its feed when no later one is kept there.
func (r *registry) order(p orderPlan) *peerOrder {
	o := p.build()
	if p.ready != nil {
		return o
	}
	r.mu.Lock()
	if p.feed.order == nil || p.feed.order.index < o.index {
		p.feed.order = o
	}
	r.mu.Unlock()
	return o
}

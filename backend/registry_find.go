package backend

import (
	"slices"
	"strings"
	"time"
)

// A certQuery selects certificates: every filter must match. Values are
// index values (see indexValues).
type certQuery struct {
	// live keeps only certificates neither revoked nor expired.
	live bool
	// filters maps an indexed field to the value it must have.
	filters map[string]string
	// after keeps only serials sorting after it; limit, when positive,
	// keeps that many.
	after string
	limit int
}

// find returns the records matching q at now, sorted by serial, after
// q.after and at most q.limit of them. It reads only the certificates that
// match q's most selective filter (or, without filters, the live or all
// certificates), never storage. Certificates still being issued are not
// shown.
func (r *registry) find(now time.Time, q certQuery) []*certRecord {
	out := r.matching(now, q)
	// Sorted outside the lock: records do not change once committed.
	slices.SortFunc(out, func(a, b *certRecord) int { return strings.Compare(a.SerialNumber, b.SerialNumber) })
	if q.limit > 0 && len(out) > q.limit {
		out = out[:q.limit]
	}
	return out
}

// matching returns the records matching q at now after q.after, in no order.
func (r *registry) matching(now time.Time, q certQuery) []*certRecord {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*certRecord
	r.eachCandidate(q, func(serial string) {
		if serial <= q.after && q.after != "" {
			return
		}
		rec := r.record(serial)
		if rec == nil || (q.live && (rec.revoked() || !rec.ExpiresAt.After(now))) {
			return
		}
		for f, v := range q.filters {
			if !r.indexed[f][v].has(serial) {
				return
			}
		}
		out = append(out, rec)
	})
	return out
}

// eachCandidate calls fn with the serials of the smallest index set among
// q's filters, or every live (or known) serial when q has none or, for a
// live query, when the live ones are fewer (the index holds the dead too);
// the caller holds mu.
func (r *registry) eachCandidate(q certQuery, fn func(serial string)) {
	var smallest serialSet
	first := true
	for f, v := range q.filters {
		set := r.indexed[f][v]
		if first || set.len() < smallest.len() {
			smallest, first = set, false
		}
	}
	if !first && (!q.live || smallest.len() <= len(r.live)) {
		smallest.each(fn)
		return
	}
	for s := range r.live {
		fn(s)
	}
	if !q.live {
		for s := range r.dead {
			fn(s)
		}
	}
}

// record is the record of serial, live (committed) or dead, or nil; the
// caller holds mu. A dead one has no certificate.
func (r *registry) record(serial string) *certRecord {
	if lc, ok := r.live[serial]; ok {
		if lc.pending {
			return nil
		}
		return lc.rec
	}
	if d, ok := r.dead[serial]; ok {
		return d.rec
	}
	return nil
}

// revocation is the revocation of serial as the registry knows it, and
// whether it knows it revoked: the record in storage may not say so yet
// (see revocationJournalEntry).
func (r *registry) revocation(serial string) (journaledRevocation, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if d, ok := r.dead[serial]; ok && d.rec.revoked() {
		return journaled(d.rec), true
	}
	return journaledRevocation{}, false
}

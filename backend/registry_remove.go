package backend

import (
	"iter"
	"slices"
)

// An identityCerts is the live certificates of one identity, in the order
// they were added, from which any one leaves in constant time: each knows
// its position (liveCert.pos). A mass revocation of an identity's thousands
// of certificates (every device of one AppRole role is one identity) used to
// search its list once per revocation.
//
// A removal leaves a hole (nil) where the certificate was; the holes are
// squeezed out once they are half the list, so a walk costs at most twice
// the live certificates. It is held by value in byIdentity: the caller
// stores it back after a change.
type identityCerts struct {
	certs []*liveCert
	holes int
}

// len is the number of certificates in the list.
func (l identityCerts) len() int { return len(l.certs) - l.holes }

// all yields the certificates, oldest first.
func (l identityCerts) all() iter.Seq[*liveCert] {
	return func(yield func(*liveCert) bool) {
		for _, lc := range l.certs {
			if lc != nil && !yield(lc) {
				return
			}
		}
	}
}

// with is the list with lc appended, the newest.
func (l identityCerts) with(lc *liveCert) identityCerts {
	lc.pos = int32(len(l.certs))
	l.certs = append(l.certs, lc)
	return l
}

// without is the list without lc; a certificate not in it (its position
// holds another) leaves it as it is.
func (l identityCerts) without(lc *liveCert) identityCerts {
	i := int(lc.pos)
	if i >= len(l.certs) || l.certs[i] != lc {
		return l
	}
	l.certs[i] = nil
	if l.holes++; l.holes > len(l.certs)/2 {
		l = l.compacted()
	}
	return l
}

// compacted is the list without its holes, in place, positions renumbered.
func (l identityCerts) compacted() identityCerts {
	l.certs = slices.DeleteFunc(l.certs, func(lc *liveCert) bool { return lc == nil })
	l.holes = 0
	l.renumber()
	return l
}

// renumber sets each certificate's position after the list was reordered.
func (l identityCerts) renumber() {
	for i, lc := range l.certs {
		if lc != nil {
			lc.pos = int32(i)
		}
	}
}

// addIdentityCert lists lc, a certificate of identity, in byIdentity; the
// caller holds mu.
func (r *registry) addIdentityCert(identity string, lc *liveCert) {
	r.byIdentity[identity] = r.byIdentity[identity].with(lc)
}

// removeIdentityCert takes lc out of its identity's list in byIdentity,
// dropping the list when it is left empty; the caller holds mu.
func (r *registry) removeIdentityCert(identity string, lc *liveCert) {
	l, ok := r.byIdentity[identity]
	if !ok {
		return
	}
	if l = l.without(lc); l.len() == 0 {
		delete(r.byIdentity, identity)
	} else {
		r.byIdentity[identity] = l
	}
}

package backend

import "slices"

// A stringPool hands out one copy of equal strings. Records read from
// storage each carry their own copy of values that many certificates
// share (the gateway, the role, the entity, the CA's key id, the auth
// mounts): at 50,000 certificates about 11 MB of duplicates. A pool lives
// as long as one load, so values that are each device's own cost nothing
// after it.
type stringPool map[string]string

// intern returns the pool's copy of s, which is s the first time.
func (p stringPool) intern(s string) string {
	if v, ok := p[s]; ok {
		return v
	}
	p[s] = s
	return s
}

// internRecord points rec's shared values to the pool's copies.
func (p stringPool) internRecord(rec *certRecord) {
	for _, s := range []*string{&rec.Gateway, &rec.Role, &rec.Identity, &rec.EntityID, &rec.DisplayName,
		&rec.IssuerKeyID, &rec.RevokedBy, &rec.RevokedByEntityID, &rec.Block} {
		*s = p.intern(*s)
	}
	for i := range rec.AuthMounts {
		rec.AuthMounts[i] = p.intern(rec.AuthMounts[i])
	}
}

// shareIdentityValues points rec's identity values to other's where they
// are equal: other is a live certificate of the same identity. An issue's
// values are the request's own copies, and one identity (every device of
// an AppRole role) may hold tens of thousands of certificates; sharing with
// one of them costs nothing when an identity has one certificate. rec is
// not yet published (the caller holds the registry's lock).
func shareIdentityValues(rec, other *certRecord) {
	for _, f := range [][2]*string{{&rec.Identity, &other.Identity}, {&rec.EntityID, &other.EntityID},
		{&rec.DisplayName, &other.DisplayName}, {&rec.CommonName, &other.CommonName}} {
		if *f[0] == *f[1] {
			*f[0] = *f[1]
		}
	}
	if len(rec.AuthMounts) > 0 && slices.Equal(rec.AuthMounts, other.AuthMounts) {
		rec.AuthMounts = other.AuthMounts // never changed once issued
	}
}

package backend

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

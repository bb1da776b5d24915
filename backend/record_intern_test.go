package backend

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
)

// A mount's start keeps one copy of the values its certificates share
// (gateway, role, entity, display name, the CA's key id, auth mounts):
// decoded from storage, each record had its own, about 230 bytes per
// certificate at 50,000.
func TestLoadSharesValues(t *testing.T) {
	env := newTestEnv(t)
	a := env.issue("alice")
	b := env.issue("alice")
	env.revokeLease(env.issue("alice"))
	env.reload()
	env.peers("0") // waits for the load

	r := env.b.reg
	r.mu.Lock()
	defer r.mu.Unlock()
	ra := r.live[a.Data["serial_number"].(string)].rec
	rb := r.live[b.Data["serial_number"].(string)].rec
	var dead *certRecord
	for _, d := range r.dead {
		dead = d.rec
	}
	require.NotNil(t, dead)
	same := func(field string, x, y string) {
		t.Helper()
		require.Equal(t, x, y, field)
		require.Same(t, unsafe.StringData(x), unsafe.StringData(y), "%s: two copies of %q", field, x)
	}
	for _, other := range []*certRecord{rb, dead} {
		same("gateway", ra.Gateway, other.Gateway)
		same("role", ra.Role, other.Role)
		same("identity", ra.Identity, other.Identity)
		same("display_name", ra.DisplayName, other.DisplayName)
		same("issuer_key_id", ra.IssuerKeyID, other.IssuerKeyID)
	}
	require.NotEmpty(t, ra.Identity)
}

// An issue shares the values of its identity's other live certificates
// (the identity, entity, display name, auth mounts) instead of keeping the
// request's copies: one AppRole role's fleet is one identity, and each of
// its 50,000 records held its own (6 MB in P6's heap profile).
func TestIssueSharesIdentityValues(t *testing.T) {
	env := newTestEnv(t)
	a := env.issue("alice")
	b := env.issue("alice")
	r := env.b.reg
	r.mu.Lock()
	defer r.mu.Unlock()
	ra := r.live[a.Data["serial_number"].(string)].rec
	rb := r.live[b.Data["serial_number"].(string)].rec
	require.Equal(t, ra.Identity, rb.Identity)
	require.Same(t, unsafe.StringData(ra.Identity), unsafe.StringData(rb.Identity), "two copies of the identity %q", ra.Identity)
}

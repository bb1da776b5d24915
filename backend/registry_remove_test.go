package backend

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
	"github.com/stretchr/testify/require"
)

// certsOf lists n live certificates with serials s0, s1, …
func certsOf(n int) []*liveCert {
	out := make([]*liveCert, n)
	for i := range out {
		out[i] = &liveCert{rec: &certRecord{SerialNumber: fmt.Sprintf("s%d", i)}}
	}
	return out
}

// identitySerials is the serials of l, oldest first.
func identitySerials(l identityCerts) []string {
	out := []string{}
	for lc := range l.all() {
		out = append(out, lc.rec.SerialNumber)
	}
	return out
}

// Taking one certificate out of an identity's list of thousands allocates
// nothing: a mass revocation of one identity's certificates is not
// quadratic in garbage.
func TestIdentityCertsRemoveInPlace(t *testing.T) {
	r := newRegistry(time.Now)
	certs := certsOf(5000)
	for _, lc := range certs {
		r.addIdentityCert("id", lc)
	}
	next := 0
	allocs := testing.AllocsPerRun(1000, func() {
		r.removeIdentityCert("id", certs[next])
		next++
	})
	if allocs > 0 {
		t.Errorf("a removal allocated %.0f times per call on a list of thousands", allocs)
	}
	if got, want := r.byIdentity["id"].len(), 5000-1001; got != want {
		t.Errorf("%d certificates left, want %d", got, want)
	}
	if first := identitySerials(r.byIdentity["id"])[0]; first != "s1001" {
		t.Errorf("first serial %s, want s1001 (order kept)", first)
	}
	r.removeIdentityCert("id", &liveCert{})
	r.removeIdentityCert("other", certs[2000])
	for _, lc := range certs {
		r.removeIdentityCert("id", lc)
	}
	if _, ok := r.byIdentity["id"]; ok {
		t.Error("an empty list is kept")
	}
}

// An identity's list keeps the order of the certificates added, whatever
// leaves and in whatever order, across its compactions; each certificate
// knows its place.
func TestIdentityCertsKeepOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{1, 5, 200, 3000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			r := newRegistry(time.Now)
			pool := certsOf(n * 2)
			var model []*liveCert
			check := func() {
				t.Helper()
				l := r.byIdentity["id"]
				require.Equal(t, len(model), l.len())
				want := []string{}
				for _, lc := range model {
					want = append(want, lc.rec.SerialNumber)
				}
				require.Equal(t, want, identitySerials(l))
				for _, lc := range model {
					require.Same(t, lc, l.certs[lc.pos], "%s out of place", lc.rec.SerialNumber)
				}
			}
			add := func() {
				lc := pool[0]
				pool = pool[1:]
				r.addIdentityCert("id", lc)
				model = append(model, lc)
			}
			for range n {
				add()
			}
			check()
			// Take everything out in random order, adding now and then;
			// taking out one that left already changes nothing.
			for len(model) > 0 {
				i := rng.IntN(len(model))
				lc := model[i]
				r.removeIdentityCert("id", lc)
				model = slices.Delete(model, i, i+1)
				r.removeIdentityCert("id", lc)
				if len(pool) > 0 && rng.IntN(8) == 0 {
					add()
				}
				if len(model) < 300 || rng.IntN(50) == 0 {
					check()
				}
			}
			require.NotContains(t, r.byIdentity, "id")
		})
	}
}

// Many revocations of one identity's certificates at once — leases
// revoked as Vault's expiration workers do, the same certificates revoked
// by serial, the identity issuing meanwhile and a gateway reading its feed
// — lose none: each revoked certificate is revoked in storage, on the CRL
// and removed in the feed, its address free; what was not revoked is live,
// in the order issued (max_active_per_identity evicts the oldest).
func TestConcurrentRevocationsLoseNothing(t *testing.T) {
	env := newTestEnv(t)
	const n, revoke, fresh = 300, 250, 20
	leases := make([]*logical.Response, n)
	for i := range leases {
		leases[i] = env.issue("alice")
	}
	start := env.peers("0")
	require.Len(t, start.Peers, n)
	order := rand.New(rand.NewPCG(3, 4)).Perm(n)
	gone, kept := order[:revoke], order[revoke:]

	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for j := w; j < revoke; j += 8 {
				l := leases[gone[j]]
				env.revokeLease(l)
				if j%3 == 0 {
					env.ok(logical.UpdateOperation, "revoke", map[string]any{"serial_number": l.Data["serial_number"]})
				}
			}
		})
	}
	issuedNow := make([]<-chan issued, fresh)
	for i := range issuedNow {
		issuedNow[i] = env.issueAsync("alice", "laptop")
	}
	wg.Go(func() {
		for range 20 {
			env.peers(itoa(start.Index))
		}
	})
	wg.Wait()
	fresher, inUse := map[string]bool{}, map[string]bool{}
	for i, ch := range issuedNow {
		got := within(t, ch, fmt.Sprintf("issue %d", i))
		require.NoError(t, got.err)
		require.False(t, got.resp.IsError(), "%v", got.resp.Error())
		fresher[got.resp.Data["serial_number"].(string)] = true
		for _, a := range got.resp.Data["addresses"].([]string) {
			inUse[a] = true
		}
	}

	crl := env.crlSerials()
	removed := map[string]bool{}
	for _, r := range env.peers(itoa(start.Index)).Removed {
		removed[r.SerialNumber] = true
	}
	for _, i := range gone {
		s := leases[i].Data["serial_number"].(string)
		require.True(t, env.revoked(s), "certificate %s revoked", s)
		require.True(t, crl[s], "%s on the CRL", s)
		require.True(t, removed[s], "%s removed in the feed", s)
	}
	live := map[string]bool{}
	for _, s := range env.feedSerials() {
		live[s] = true
	}
	require.Len(t, live, n-revoke+fresh)
	for _, i := range kept {
		require.True(t, live[leases[i].Data["serial_number"].(string)])
	}
	for s := range fresher {
		require.True(t, live[s], s)
	}
	// Their addresses are free again, unless given to those issued since.
	env.b.reg.mu.Lock()
	pools := env.b.reg.gateways["gw1"].pools
	var held []string
	for _, i := range gone {
		for _, a := range leases[i].Data["addresses"].([]string) {
			addr := netip.MustParsePrefix(a).Addr()
			for _, p := range pools {
				if !inUse[a] && p.Contains(addr) {
					if !p.Claim(addr) {
						held = append(held, a)
					}
					p.Release(addr)
				}
			}
		}
	}
	env.b.reg.mu.Unlock()
	require.Empty(t, held, "addresses of revoked certificates still in use")

	// The oldest go first: the survivors issued before the revocations,
	// then some of those issued during them.
	env.ok(logical.UpdateOperation, "roles/laptop", map[string]any{"max_active_per_identity": fresh / 2})
	newest := env.issue("alice")
	for _, i := range kept {
		require.True(t, env.revoked(leases[i].Data["serial_number"].(string)), "an older certificate outlived the eviction")
	}
	env.b.reg.mu.Lock()
	alive := identitySerials(env.b.reg.byIdentity["accessor:accessor-alice"])
	env.b.reg.mu.Unlock()
	require.Len(t, alive, fresh/2)
	require.Equal(t, newest.Data["serial_number"], alive[len(alive)-1])
	for _, s := range alive[:len(alive)-1] {
		require.True(t, fresher[s], s)
	}
}

// BenchmarkRevokeMany revokes 5,000 leases of one identity in random
// order, as Vault's expiration workers do after `vault lease revoke
// -prefix`, and reports the plugin's own time per revocation (storage in
// memory: no gRPC):
//
//	go test ./backend -run '^$' -bench RevokeMany -benchtime 3x
func BenchmarkRevokeMany(b *testing.B) {
	const n = 5000
	t := &testing.T{} // the helpers want a *testing.T; a failure panics
	for b.Loop() {
		b.StopTimer()
		env := newTestEnv(t)
		leases := make([]*logical.Response, n)
		for i := range leases {
			leases[i] = env.issue("alice")
		}
		rand.Shuffle(n, func(i, j int) { leases[i], leases[j] = leases[j], leases[i] })
		b.StartTimer()
		for _, l := range leases {
			env.revokeLease(l)
		}
		b.StopTimer()
		env.b.Cleanup(context.Background())
		b.StartTimer()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/revocation")
}

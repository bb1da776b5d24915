package backend

import (
	"fmt"
	"sync"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"
	"github.com/stretchr/testify/require"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/wgcert"
)

// smallPool adds gateway gw2 with five free addresses (10.78.0.2-6) and
// role "small" on it.
func (e *testEnv) smallPool() {
	e.t.Helper()
	e.ok(logical.UpdateOperation, "gateways/gw2", map[string]any{
		"endpoint": "198.51.100.2:51820", "public_key": e.gwKey,
		"address": "10.78.0.1", "address_pool": "10.78.0.0/29",
	})
	e.ok(logical.UpdateOperation, "roles/small", map[string]any{"gateway": "gw2", "ttl": "8h"})
}

// issueWith issues on role for key as who with the extra fields; it
// returns the answer, or the refusal's message.
func (e *testEnv) issueWith(who, role, key string, extra map[string]any) (*logical.Response, string) {
	e.t.Helper()
	data := map[string]any{"public_key": key}
	for k, v := range extra {
		data[k] = v
	}
	resp, err := e.doAs(who, logical.UpdateOperation, "issue/"+role, data)
	require.NoError(e.t, err)
	if resp.IsError() {
		return nil, resp.Error().Error()
	}
	return resp, ""
}

// mustIssueWith is issueWith that must succeed.
func (e *testEnv) mustIssueWith(who, role, key string, extra map[string]any) *logical.Response {
	e.t.Helper()
	resp, msg := e.issueWith(who, role, key, extra)
	require.Empty(e.t, msg)
	return resp
}

// certData reads cert/:serial.
func (e *testEnv) certData(serial string) map[string]any {
	e.t.Helper()
	return e.ok(logical.ReadOperation, "cert/"+serial, nil).Data
}

func addressesOf(resp *logical.Response) []string { return resp.Data["addresses"].([]string) }

// fillPool issues on role "small" for fresh identities until the pool is
// exhausted and returns every address they got.
func (e *testEnv) fillPool() map[string]bool {
	e.t.Helper()
	got := map[string]bool{}
	for i := range 10 {
		resp, msg := e.issueWith(fmt.Sprintf("filler-%d", i), "small", mustKey(e.t), nil)
		if msg != "" {
			require.Contains(e.t, msg, "address pool exhausted")
			return got
		}
		for _, a := range addressesOf(resp) {
			got[a] = true
		}
	}
	e.t.Fatal("the pool of five addresses never ran out")
	return nil
}

// TestReplacesKeepsAddresses: a re-issue naming the certificate it replaces
// gets its addresses; the old one is revoked at once, with replaced_by; the
// new one starts later than the old, so gateways know which is newer.
func TestReplacesKeepsAddresses(t *testing.T) {
	env := newTestEnv(t)
	old := env.issueKey("alice", mustKey(t))
	next := env.mustIssueWith("alice", "laptop", mustKey(t), map[string]any{"replaces": serialOf(old)})

	require.Equal(t, addressesOf(old), addressesOf(next))
	oldRec := env.certData(serialOf(old))
	require.Equal(t, true, oldRec["revoked"])
	require.Equal(t, serialOf(next), oldRec["replaced_by"])
	require.Equal(t, serialOf(old), env.certData(serialOf(next))["replaces"])
	require.Equal(t, []string{serialOf(next)}, env.feedSerials())

	notBefore := func(resp *logical.Response) int64 {
		c, err := wgcert.ParsePEM([]byte(resp.Data["certificate"].(string)))
		require.NoError(t, err)
		return c.NotBefore.Unix()
	}
	require.Greater(t, notBefore(next), notBefore(old), "issued within one second, the replacement still starts later")

	// Nobody else gets the address; the old lease's revocation changes nothing.
	other := env.issue("bob")
	require.NotEqual(t, addressesOf(next), addressesOf(other))
	env.revokeLease(old)
	require.Equal(t, false, env.certData(serialOf(next))["revoked"])
}

// TestReplacesRefusals: replaces naming anything but a live certificate of
// the caller's identity on the role's gateway is a 400 naming replaces, and
// nothing is written: no new certificate, the named one untouched.
func TestReplacesRefusals(t *testing.T) {
	env := newTestEnv(t)
	env.smallPool()
	alices := env.issueKey("alice", mustKey(t))
	bobs := env.issueKey("bob", mustKey(t))
	onGw2 := env.mustIssueWith("alice", "small", mustKey(t), nil)
	revoked := env.issueKey("alice", mustKey(t))
	env.revokeLease(revoked)

	tests := []struct {
		name, replaces, want string
	}{
		{"not hex", "zz:top", `replaces: "zz:top" is not a hex serial number`},
		{"unknown", "01:02:03", "replaces: no live certificate with serial 01:02:03"},
		{"revoked", serialOf(revoked), "replaces: certificate " + serialOf(revoked) + " is revoked"},
		{"another identity", serialOf(bobs), "replaces: certificate " + serialOf(bobs) + " belongs to another identity"},
		{"another gateway", serialOf(onGw2), "replaces: certificate " + serialOf(onGw2) + ` is for gateway "gw2", not "gw1"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := len(env.ok(logical.ListOperation, "certs/", nil).Data["keys"].([]string))
			_, msg := env.issueWith("alice", "laptop", mustKey(t), map[string]any{"replaces": tc.replaces})
			require.Contains(t, msg, tc.want)
			require.Len(t, env.ok(logical.ListOperation, "certs/", nil).Data["keys"].([]string), before, "nothing written")
			for _, r := range []*logical.Response{alices, bobs, onGw2} {
				require.Equal(t, false, env.certData(serialOf(r))["revoked"])
			}
		})
	}
}

// TestReplacesOnce: many re-issues naming one certificate at once: exactly
// one replaces it, the others are refused naming replaces, and no other
// identity issuing meanwhile gets the address.
func TestReplacesOnce(t *testing.T) {
	env := newTestEnv(t)
	old := env.issueKey("alice", mustKey(t))
	const n = 20
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		won     []*logical.Response
		refused []string
		others  []string
	)
	for i := range n {
		wg.Add(2)
		go func() {
			defer wg.Done()
			pub := mustKey(t)
			resp, err := env.doAs("alice", logical.UpdateOperation, "issue/laptop", map[string]any{"public_key": pub, "replaces": serialOf(old)})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				t.Error(err)
			case resp.IsError():
				refused = append(refused, resp.Error().Error())
			default:
				won = append(won, resp)
			}
		}()
		go func() {
			defer wg.Done()
			resp, err := env.doAs(fmt.Sprintf("other-%d", i), logical.UpdateOperation, "issue/laptop", map[string]any{"public_key": mustKey(t)})
			mu.Lock()
			defer mu.Unlock()
			if err != nil || resp.IsError() {
				t.Errorf("issue: %v %v", err, resp.Error())
				return
			}
			others = append(others, addressesOf(resp)...)
		}()
	}
	wg.Wait()
	require.Len(t, won, 1)
	require.Equal(t, addressesOf(old), addressesOf(won[0]))
	require.Len(t, refused, n-1)
	for _, msg := range refused {
		require.Regexp(t, `^replaces: certificate \S+ (is revoked|is already replaced by \S+)$`, msg)
	}
	for _, a := range addressesOf(old) {
		require.NotContains(t, others, a)
	}
}

// TestReissueSameKeyKeepsAddress: a re-issue for the same key by the same
// identity (Vault Agent's refresh) gets the addresses of its newest live
// certificate; another identity's key or a fresh key does not.
func TestReissueSameKeyKeepsAddress(t *testing.T) {
	env := newTestEnv(t)
	key := mustKey(t)
	first := env.issueKey("alice", key)
	second := env.issueKey("alice", key)
	require.Equal(t, addressesOf(first), addressesOf(second))
	require.Equal(t, false, env.certData(serialOf(first))["revoked"], "no replaces: the older one stays until it ends")
	env.revokeLease(first)
	third := env.issueKey("alice", key)
	require.Equal(t, addressesOf(first), addressesOf(third))
	require.NotEqual(t, addressesOf(first), addressesOf(env.issueKey("alice", mustKey(t))))
}

// TestSharedAddressStaysTaken: while one of two certificates sharing an
// address lives, the address is not allocated to anyone else, across a
// reload too; when both are gone it is free again.
func TestSharedAddressStaysTaken(t *testing.T) {
	for _, reload := range []bool{false, true} {
		t.Run(fmt.Sprintf("reload=%v", reload), func(t *testing.T) {
			env := newTestEnv(t)
			env.smallPool()
			key := mustKey(t)
			first := env.mustIssueWith("alice", "small", key, nil)
			second := env.mustIssueWith("alice", "small", key, nil)
			shared := addressesOf(first)[0]
			require.Equal(t, []string{shared}, addressesOf(second))
			// A third holder, by replaces: three certificates, one address.
			third := env.mustIssueWith("alice", "small", mustKey(t), map[string]any{"replaces": serialOf(second)})
			require.Equal(t, []string{shared}, addressesOf(third))
			if reload {
				env.reload()
			}
			env.revokeLease(first)
			got := env.fillPool()
			require.Len(t, got, 4)
			require.NotContains(t, got, shared)

			env.revokeLease(third)
			if reload {
				env.reload()
			}
			resp, msg := env.issueWith("late", "small", mustKey(t), nil)
			require.Empty(t, msg)
			require.Equal(t, []string{shared}, addressesOf(resp), "free once its last holder left")
		})
	}
}

// TestReplacementNeverStartsInTheFuture: many re-issues of one address in
// one second start one second apart, but never after they were issued.
func TestReplacementNeverStartsInTheFuture(t *testing.T) {
	env := newTestEnv(t)
	cur := env.issueKey("alice", mustKey(t))
	for range 40 {
		next := env.mustIssueWith("alice", "laptop", mustKey(t), map[string]any{"replaces": serialOf(cur)})
		c, err := wgcert.ParsePEM([]byte(next.Data["certificate"].(string)))
		require.NoError(t, err)
		require.False(t, c.NotBefore.After(env.b.now()), "NotBefore %s is in the future", c.NotBefore)
		require.Equal(t, addressesOf(cur), addressesOf(next))
		cur = next
	}
}

// TestReplacesUnderMaxActive: a replacement counts in place of the
// certificate it replaces, so it pushes out none of the identity's others.
func TestReplacesUnderMaxActive(t *testing.T) {
	env := newTestEnv(t)
	env.ok(logical.UpdateOperation, "roles/laptop", map[string]any{"gateway": "gw1", "ttl": "8h", "max_active_per_identity": 2})
	other := env.issueKey("alice", mustKey(t)) // the oldest: a limit would take it first
	old := env.issueKey("alice", mustKey(t))
	next := env.mustIssueWith("alice", "laptop", mustKey(t), map[string]any{"replaces": serialOf(old)})
	require.Equal(t, false, env.certData(serialOf(other))["revoked"], "the replacement evicted another certificate")
	require.Equal(t, serialOf(next), env.certData(serialOf(old))["replaced_by"])
	require.ElementsMatch(t, []string{serialOf(other), serialOf(next)}, env.feedSerials())
}

package backend

import (
	"encoding/base64"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
	"github.com/stretchr/testify/require"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// findCerts reads certs with the query data (as the CLI's read does) and
// lists them (as LIST does), checks that both answer the same, and returns
// the keys and key_info.
func (e *testEnv) findCerts(data map[string]any) ([]string, map[string]any) {
	e.t.Helper()
	read := e.ok(logical.ReadOperation, "certs", data)
	list := e.ok(logical.ListOperation, "certs/", data)
	require.Equal(e.t, read.Data, list.Data)
	keys, _ := read.Data["keys"].([]string)
	info, _ := read.Data["key_info"].(map[string]any)
	if keys == nil {
		keys = []string{}
	}
	return keys, info
}

// issueAsEntity issues on role for a fresh key as the entity id, named
// name.
func (e *testEnv) issueAsEntity(id, name, role string) *logical.Response {
	e.t.Helper()
	e.sys.EntityVal = &logical.Entity{ID: id, Name: name}
	defer func() { e.sys.EntityVal = nil }()
	resp, err := e.b.HandleRequest(e.t.Context(), &logical.Request{
		Operation: logical.UpdateOperation, Path: "issue/" + role, Storage: e.storage,
		EntityID: id, DisplayName: "approle",
		Data: map[string]any{"public_key": mustKey(e.t)},
	})
	require.NoError(e.t, err)
	require.False(e.t, resp.IsError(), "issue: %v", resp.Error())
	return resp
}

func serialOf(resp *logical.Response) string { return resp.Data["serial_number"].(string) }

// TestCertsFilters: each filter of certs/, alone and combined, finds
// exactly the certificates that match it, live=true leaves out revoked and
// expired ones, and the answer carries each one's key facts.
func TestCertsFilters(t *testing.T) {
	env := newTestEnv(t)
	gw2, err := wgtypes.GenerateKey()
	require.NoError(t, err)
	env.ok(logical.UpdateOperation, "gateways/gw2", map[string]any{
		"endpoint": "198.51.100.2:51820", "public_key": gw2.PublicKey().String(), "address_pool": "10.88.0.0/24",
	})
	env.ok(logical.UpdateOperation, "roles/server", map[string]any{"gateway": "gw2"})

	alice1 := env.issue("alice")
	alice2 := env.issue("alice")
	bob := env.issue("bob")
	aliceServer, err := env.doAs("alice", logical.UpdateOperation, "issue/server", map[string]any{"public_key": mustKey(t)})
	require.NoError(t, err)
	carol := env.issueAsEntity("e-carol", "carol", "laptop")
	short, err := env.doAs("dave", logical.UpdateOperation, "issue/laptop", map[string]any{"public_key": mustKey(t), "ttl": "60s"})
	require.NoError(t, err)
	env.ok(logical.UpdateOperation, "revoke", map[string]any{"serial_number": serialOf(alice2)})
	start := env.b.now()
	env.b.clock.set(func() time.Time { return start.Add(2 * time.Minute) }) // short has expired

	all := []string{serialOf(alice1), serialOf(alice2), serialOf(bob), serialOf(aliceServer), serialOf(carol), serialOf(short)}
	sorted := func(s ...string) []string { return slices.Sorted(slices.Values(s)) }
	// A key written with its top bit set is the same X25519 point.
	raw, err := wgtypes.ParseKey(alice1.Data["public_key"].(string))
	require.NoError(t, err)
	raw[31] |= 0x80
	aliceAddr := alice1.Data["addresses"].([]string)

	for name, tc := range map[string]struct {
		query map[string]any
		want  []string
	}{
		"all":                     {nil, sorted(all...)},
		"live":                    {map[string]any{"live": true}, sorted(serialOf(alice1), serialOf(bob), serialOf(aliceServer), serialOf(carol))},
		"common_name":             {map[string]any{"common_name": "alice"}, sorted(serialOf(alice1), serialOf(alice2), serialOf(aliceServer))},
		"common_name live":        {map[string]any{"common_name": "alice", "live": true}, sorted(serialOf(alice1), serialOf(aliceServer))},
		"common_name and role":    {map[string]any{"common_name": "alice", "role": "laptop"}, sorted(serialOf(alice1), serialOf(alice2))},
		"entity_id":               {map[string]any{"entity_id": "e-carol"}, []string{serialOf(carol)}},
		"role":                    {map[string]any{"role": "server"}, []string{serialOf(aliceServer)}},
		"gateway":                 {map[string]any{"gateway": "gw2"}, []string{serialOf(aliceServer)}},
		"gateway live none":       {map[string]any{"gateway": "gw1", "common_name": "dave", "live": true}, []string{}},
		"expired not live":        {map[string]any{"common_name": "dave"}, []string{serialOf(short)}},
		"address v4":              {map[string]any{"address": prefixAddr(aliceAddr[0])}, []string{serialOf(alice1)}},
		"address v6 prefix":       {map[string]any{"address": aliceAddr[1]}, []string{serialOf(alice1)}},
		"public_key":              {map[string]any{"public_key": alice1.Data["public_key"]}, []string{serialOf(alice1)}},
		"public_key same point":   {map[string]any{"public_key": base64.StdEncoding.EncodeToString(raw[:])}, []string{serialOf(alice1)}},
		"unknown common_name":     {map[string]any{"common_name": "mallory"}, []string{}},
		"filters that contradict": {map[string]any{"common_name": "bob", "role": "server"}, []string{}},
	} {
		t.Run(name, func(t *testing.T) {
			keys, info := env.findCerts(tc.query)
			require.Equal(t, tc.want, keys)
			require.Len(t, info, len(keys))
		})
	}

	_, info := env.findCerts(map[string]any{"common_name": "alice", "role": "laptop"})
	require.Equal(t, map[string]any{
		"common_name": "alice",
		"addresses":   aliceAddr,
		"gateway":     "gw1",
		"role":        "laptop",
		"entity_id":   "",
		"public_key":  alice1.Data["public_key"],
		"expiration":  time.Unix(alice1.Data["expiration"].(int64), 0).UTC().Format(time.RFC3339),
		"revoked":     false,
	}, info[serialOf(alice1)])
	require.Equal(t, true, info[serialOf(alice2)].(map[string]any)["revoked"])

	// Records outlive a reload: dead ones are found too.
	env.reload()
	env.b.clock.set(func() time.Time { return start.Add(2 * time.Minute) })
	keys, _ := env.findCerts(map[string]any{"common_name": "alice"})
	require.Equal(t, sorted(serialOf(alice1), serialOf(alice2), serialOf(aliceServer)), keys)
}

func prefixAddr(p string) string {
	for i, c := range p {
		if c == '/' {
			return p[:i]
		}
	}
	return p
}

func TestCertsBadQuery(t *testing.T) {
	env := newTestEnv(t)
	for _, op := range []logical.Operation{logical.ReadOperation, logical.ListOperation} {
		env.fails(op, "certs/", map[string]any{"address": "10.77.0"}, `address: "10.77.0" is not an IP address`)
		env.fails(op, "certs/", map[string]any{"address": "10.77.0.0/16"}, `address: "10.77.0.0/16" is not an IP address`)
		env.fails(op, "certs/", map[string]any{"public_key": "AAAA"}, "public_key: not 32 bytes")
		env.fails(op, "certs/", map[string]any{"limit": -1}, "limit: must not be negative")
	}
}

// TestCertsPaging: pages of limit entries after the last serial of the
// previous page, put together, are the whole answer, each once.
func TestCertsPaging(t *testing.T) {
	env := newTestEnv(t)
	for range 23 {
		env.issue("alice")
	}
	env.issue("bob")
	whole, _ := env.findCerts(map[string]any{"common_name": "alice"})
	require.Len(t, whole, 23)
	for _, limit := range []int{1, 5, 23, 30} {
		var got []string
		after := ""
		for range 30 {
			page, info := env.findCerts(map[string]any{"common_name": "alice", "after": after, "limit": limit})
			require.LessOrEqual(t, len(page), limit)
			require.Len(t, info, len(page))
			if len(page) == 0 {
				break
			}
			got = append(got, page...)
			after = page[len(page)-1]
		}
		require.Equal(t, whole, got, "limit %d", limit)
	}
}

// TestFindTenThousand: on 10,000 certificates (live, revoked and expired,
// spread over names, entities, roles and gateways), every query returns
// exactly the certificates a scan of all of them finds, paging included,
// and looks only at the certificates of its most selective filter.
func TestFindTenThousand(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	const n = 10000
	r, recs := syntheticRegistry(now, n, 100)
	scan := func(q certQuery, match func(*certRecord) bool) []string {
		var out []string
		for _, rec := range recs {
			if q.live && (rec.revoked() || !rec.ExpiresAt.After(now)) {
				continue
			}
			if match(rec) && rec.SerialNumber > q.after {
				out = append(out, rec.SerialNumber)
			}
		}
		slices.Sort(out)
		if q.limit > 0 && len(out) > q.limit {
			out = out[:q.limit]
		}
		return out
	}
	serials := func(rs []*certRecord) []string {
		var out []string
		for _, rec := range rs {
			out = append(out, rec.SerialNumber)
		}
		return out
	}
	point := func(rec *certRecord) string { p, _ := keyPoint(rec.PublicKey); return p.String() }
	for _, tc := range []struct {
		name  string
		q     certQuery
		match func(*certRecord) bool
	}{
		{"everything", certQuery{}, func(*certRecord) bool { return true }},
		{"live", certQuery{live: true}, func(*certRecord) bool { return true }},
		{"common_name", certQuery{filters: map[string]string{fieldCommonName: "dev-7"}}, func(r *certRecord) bool { return r.CommonName == "dev-7" }},
		{"live common_name", certQuery{live: true, filters: map[string]string{fieldCommonName: "dev-7"}}, func(r *certRecord) bool { return r.CommonName == "dev-7" }},
		{"entity and role", certQuery{filters: map[string]string{fieldEntityID: "e-3", fieldRole: "role-1"}}, func(r *certRecord) bool { return r.EntityID == "e-3" && r.Role == "role-1" }},
		{"live gateway page", certQuery{live: true, after: "00:10:00:00", limit: 100, filters: map[string]string{fieldGateway: "gw-1"}}, func(r *certRecord) bool { return r.Gateway == "gw-1" }},
		{"address", certQuery{filters: map[string]string{fieldAddress: "10.0.30.7"}}, func(r *certRecord) bool { return r.Addresses[0] == "10.0.30.7/32" }},
		{"public_key", certQuery{filters: map[string]string{fieldPublicKey: point(recs[4242])}}, func(r *certRecord) bool { return r == recs[4242] }},
		{"revoked one, live", certQuery{live: true, filters: map[string]string{fieldPublicKey: point(recs[7])}}, func(r *certRecord) bool { return r == recs[7] }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := scan(tc.q, tc.match)
			require.Equal(t, tc.name == "revoked one, live", len(want) == 0, "finds nothing")
			sameSerials(t, want, serials(r.find(now, tc.q)))
		})
	}

	// Paging through a filter gives the whole answer.
	q := certQuery{filters: map[string]string{fieldRole: "role-2"}, limit: 97}
	var paged []string
	for range n {
		page := serials(r.find(now, q))
		if len(page) == 0 {
			break
		}
		paged = append(paged, page...)
		q.after = page[len(page)-1]
	}
	sameSerials(t, scan(certQuery{}, func(r *certRecord) bool { return r.Role == "role-2" }), paged)

	// A query looks at the certificates of its most selective filter only
	// (100 of 10,000 bear the name), live or not: one index holds both.
	visited := 0
	r.mu.Lock()
	r.eachCandidate(certQuery{live: true, filters: map[string]string{fieldCommonName: "dev-7", fieldGateway: "gw-1"}}, func(string) { visited++ })
	r.mu.Unlock()
	require.Equal(t, len(scan(certQuery{live: false}, func(r *certRecord) bool { return r.CommonName == "dev-7" })), visited)
	// A live query whose smallest set is larger than the live set visits
	// the live ones instead.
	visited = 0
	r.mu.Lock()
	r.eachCandidate(certQuery{live: true, filters: map[string]string{fieldGateway: "gw-1"}}, func(string) { visited++ })
	live := len(r.live)
	r.mu.Unlock()
	require.LessOrEqual(t, visited, live)
}

// sameSerials fails unless got is want, naming the first difference (the
// lists are too long to print).
func sameSerials(t *testing.T, want, got []string) {
	t.Helper()
	for i := range min(len(want), len(got)) {
		require.Equal(t, want[i], got[i], "entry %d of %d", i, len(want))
	}
	require.Equal(t, len(want), len(got))
}

// TestCertsForgetsTidied: records tidy deleted, live or revoked, are no
// longer found by any filter, and the rest still are.
func TestCertsForgetsTidied(t *testing.T) {
	env := newTestEnv(t)
	short := env.ok(logical.UpdateOperation, "issue/laptop", map[string]any{"public_key": mustKey(t), "ttl": "1h"})
	revoked := env.ok(logical.UpdateOperation, "issue/laptop", map[string]any{"public_key": mustKey(t), "ttl": "1h"})
	env.ok(logical.UpdateOperation, "revoke", map[string]any{"serial_number": serialOf(revoked)})
	long := env.ok(logical.UpdateOperation, "issue/laptop", map[string]any{"public_key": mustKey(t), "ttl": "20h"})

	env.b.clock.set(func() time.Time { return time.Now().Add(10 * time.Hour) })
	require.Equal(t, 2, env.ok(logical.UpdateOperation, "tidy", map[string]any{"safety_buffer": "1h"}).Data["deleted"])
	for _, q := range []map[string]any{
		nil,
		{"common_name": "alice"},
		{"public_key": short.Data["public_key"]},
		{"public_key": revoked.Data["public_key"]},
		{"address": prefixAddr(short.Data["addresses"].([]string)[0])},
	} {
		keys, _ := env.findCerts(q)
		require.Subset(t, []string{serialOf(long)}, keys, "%v", q)
	}
	keys, _ := env.findCerts(map[string]any{"role": "laptop"})
	require.Equal(t, []string{serialOf(long)}, keys)
}

// syntheticRegistry returns a registry holding n certificates spread over
// names common names (dev-0…), 50 entities, 3 roles and 2 gateways, every
// 7th revoked and every 11th expired at now, and their records by index.
func syntheticRegistry(now time.Time, n, names int) (*registry, []*certRecord) {
	r := newRegistry(func() time.Time { return now })
	recs := make([]*certRecord, n)
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range n {
		var key wgtypes.Key
		key[0], key[1], key[2], key[3] = byte(i), byte(i>>8), byte(i>>16), 1
		rec := &certRecord{
			SerialNumber: fmt.Sprintf("%02x:%02x:%02x:%02x", i>>16, (i>>8)&0xff, i&0xff, 1+i%7),
			PublicKey:    key.String(),
			CommonName:   fmt.Sprintf("dev-%d", i%names),
			Addresses:    []string{fmt.Sprintf("10.%d.%d.%d/32", i>>16, (i>>8)&0xff, i&0xff)},
			Gateway:      fmt.Sprintf("gw-%d", i%2),
			Role:         fmt.Sprintf("role-%d", i%3),
			EntityID:     fmt.Sprintf("e-%d", i%50),
			ExpiresAt:    now.Add(time.Hour),
		}
		if i%11 == 0 {
			rec.ExpiresAt = now.Add(-time.Minute)
		}
		if i%7 == 0 {
			rec.RevokedAt = now.Add(-time.Hour)
			r.addDead(rec)
		} else {
			r.addLive(rec, false)
		}
		recs[i] = rec
	}
	return r, recs
}

// BenchmarkFindOneDevice finds the live certificates of one common name
// held by 10 certificates, among 1,000 to 100,000: the time should not
// grow with the others.
func BenchmarkFindOneDevice(b *testing.B) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, n := range []int{1000, 10000, 100000} {
		b.Run(fmt.Sprintf("certs=%d", n), func(b *testing.B) {
			r, _ := syntheticRegistry(now, n, n/10)
			q := certQuery{live: true, filters: map[string]string{fieldCommonName: "dev-7"}}
			for b.Loop() {
				if len(r.find(now, q)) == 0 {
					b.Fatal("found nothing")
				}
			}
		})
	}
}

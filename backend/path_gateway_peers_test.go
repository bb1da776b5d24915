package backend

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
	"github.com/stretchr/testify/require"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/peerfeed"
	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/wgcert"
)

// peers reads the gateway gw1's feed from index since.
func (e *testEnv) peers(since string) peerfeed.Response {
	e.t.Helper()
	return e.peersWait(since, "")
}

func (e *testEnv) peersWait(since, wait string) peerfeed.Response {
	e.t.Helper()
	data := map[string]any{"index": since}
	if wait != "" {
		data["wait"] = wait
	}
	resp := e.ok(logical.ReadOperation, "gateways/gw1/peers", data)
	require.Equal(e.t, "application/json", resp.Data[logical.HTTPContentType])
	var body struct {
		Data peerfeed.Response `json:"data"`
	}
	require.NoError(e.t, json.Unmarshal(feedBody(e.t, resp), &body))
	return body.Data
}

// feedBody is the body of a feed answer: a string (feedResponse).
func feedBody(t *testing.T, resp *logical.Response) []byte {
	t.Helper()
	body, ok := resp.Data[logical.HTTPRawBody].(string)
	require.True(t, ok, "the raw body is a %T, not a string", resp.Data[logical.HTTPRawBody])
	require.True(t, strings.HasPrefix(body, "{"), "Vault takes a raw body that is base64 as base64: a JSON object never is")
	return []byte(body)
}

func TestPeersLongPoll(t *testing.T) {
	env := newTestEnv(t)
	resp := env.issue("alice")
	start := env.peers("0")

	// Up to date, nothing happens: the wait runs out with an empty delta.
	began := time.Now()
	idle := env.peersWait(itoa(start.Index), "1s")
	require.GreaterOrEqual(t, time.Since(began), time.Second)
	require.Equal(t, start.Index, idle.Index)
	require.False(t, idle.Full)
	require.Empty(t, idle.Peers)

	// A revocation wakes the waiter at once.
	go func() {
		time.Sleep(200 * time.Millisecond)
		env.revokeLease(resp)
	}()
	began = time.Now()
	woke := env.peersWait(itoa(start.Index), "30s")
	require.Less(t, time.Since(began), 5*time.Second)
	require.Len(t, woke.Removed, 1)

	// An index the feed does not know gets the full set.
	require.True(t, env.peers("12345").Full)
	require.True(t, env.peers(itoa(woke.Index+100)).Full)
	env.fails(logical.ReadOperation, "gateways/gw1/peers", map[string]any{"index": "x"}, `index: "x" is not a revision number`)
	env.fails(logical.ReadOperation, "gateways/nope/peers", nil, `name: unknown gateway "nope"`)
}

func TestPeersLongPollReturnsOnCancel(t *testing.T) {
	env := newTestEnv(t)
	start := env.peers("0")
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	began := time.Now()
	_, err := env.b.HandleRequest(ctx, &logical.Request{
		Operation: logical.ReadOperation, Path: "gateways/gw1/peers", Storage: env.storage,
		Data: map[string]any{"index": itoa(start.Index), "wait": "60s"},
	})
	require.NoError(t, err)
	require.Less(t, time.Since(began), 5*time.Second)
}

// A long-poll never holds Vault for long, whatever wait asks: Vault waits
// for requests in flight before it seals or steps down.
func TestPeersLongPollHeldAtMostASecond(t *testing.T) {
	env := newTestEnv(t)
	start := env.peers("0")
	began := time.Now()
	idle := env.peersWait(itoa(start.Index), "60s")
	held := time.Since(began)
	require.GreaterOrEqual(t, held, time.Second, "held until the wait is cut")
	require.Less(t, held, 1500*time.Millisecond, "a seal must not wait for it")
	require.Equal(t, start.Index, idle.Index, "nothing changed: same index, poll again")
	require.False(t, idle.Full)
	require.Empty(t, idle.Peers)
	require.Empty(t, idle.Removed)
}

// peersPage reads a page of gw1's full set: index, after and limit as the
// query gives them (empty: omitted).
func (e *testEnv) peersPage(index, after string, limit int) peerfeed.Response {
	e.t.Helper()
	data := map[string]any{"index": index, "limit": limit}
	if after != "" {
		data["after"] = after
	}
	resp := e.ok(logical.ReadOperation, "gateways/gw1/peers", data)
	var body struct {
		Data peerfeed.Response `json:"data"`
	}
	require.NoError(e.t, json.Unmarshal(feedBody(e.t, resp), &body))
	return body.Data
}

// livePeers is gw1's live set as the registry holds it: serial → key.
func (e *testEnv) livePeers() map[string]string {
	e.b.reg.mu.Lock()
	defer e.b.reg.mu.Unlock()
	out := make(map[string]string)
	for s, rec := range e.b.reg.feed("gw1").live {
		out[s] = rec.PublicKey
	}
	return out
}

// A full read with limit comes in pages of at most limit peers in serial
// order, each naming the serial the next starts after, the last none; the
// pages together are the full set, as one unpaged read gives it.
func TestPeersPagedFullRead(t *testing.T) {
	env := newTestEnv(t)
	for range 23 {
		env.issue("alice")
	}
	whole := env.peers("0")
	require.Len(t, whole.Peers, 23)

	var got []peerfeed.Peer
	after, pages := "", 0
	for {
		p := env.peersPage("0", after, 5)
		pages++
		require.True(t, p.Full)
		require.Equal(t, whole.Index, p.Index, "nothing changed: every page is of the same revision")
		require.Equal(t, whole.AddressPool, p.AddressPool)
		require.LessOrEqual(t, len(p.Peers), 5)
		got = append(got, p.Peers...)
		if p.Next == "" {
			break
		}
		require.Equal(t, p.Peers[len(p.Peers)-1].SerialNumber, p.Next)
		after = p.Next
		require.Less(t, pages, 10, "paging does not end")
	}
	require.Equal(t, 5, pages)
	require.Equal(t, whole.Peers, got, "the pages are the full set, in the same (serial) order")

	// A limit larger than the set: one page, no next.
	one := env.peersPage("0", "", 100)
	require.Equal(t, whole.Peers, one.Peers)
	require.Empty(t, one.Next)
	// After the last serial: an empty last page.
	last := env.peersPage("0", whole.Peers[22].SerialNumber, 5)
	require.Empty(t, last.Peers)
	require.Empty(t, last.Next)
	// The after given in another spelling of the serial (upper case)
	// is the same cursor.
	upper := env.peersPage("0", strings.ToUpper(whole.Peers[19].SerialNumber), 5)
	require.Equal(t, whole.Peers[20:], upper.Peers)

	// An index the feed does not know gets the full set: paged when
	// the read asked for a limit.
	stale := env.peersPage("12345", "", 5)
	require.True(t, stale.Full)
	require.Equal(t, whole.Peers[:5], stale.Peers)
	require.Equal(t, whole.Peers[4].SerialNumber, stale.Next)
	// A delta is not paged: limit has no effect on it.
	env.issue("bob")
	env.issue("bob")
	delta := env.peersPage(itoa(whole.Index), "", 1)
	require.False(t, delta.Full)
	require.Len(t, delta.Peers, 2)
	require.Empty(t, delta.Next)
}

// A page's bad query parameters are refused, naming the parameter.
func TestPeersPageBadInput(t *testing.T) {
	env := newTestEnv(t)
	resp := env.issue("alice")
	serial := resp.Data["serial_number"].(string)
	for _, c := range []struct {
		data map[string]any
		want string
	}{
		{map[string]any{"limit": -1}, "limit: must not be negative"},
		{map[string]any{"limit": "many"}, "limit"},
		{map[string]any{"limit": 5, "after": "zz"}, `after: "zz" is not a certificate serial`},
		{map[string]any{"limit": 5, "after": "0"}, `after: "0" is not a certificate serial`},
		{map[string]any{"index": "7", "limit": 5, "after": serial}, "after: only with index 0"},
	} {
		env.fails(logical.ReadOperation, "gateways/gw1/peers", c.data, c.want)
	}
}

// A reader that pages through the full set while certificates are issued
// and revoked, then applies the changes since its first page's index, has
// the live set: those changes cover a peer added below its cursor (which no
// page shows it) and a peer removed after its page was read (which the
// pages still show). Without them it would be wrong, as the test checks.
func TestPeersPagesThenDeltaIsLiveSet(t *testing.T) {
	env := newTestEnv(t)
	leases := make(map[string]*logical.Response)
	for range 30 {
		r := env.issue("alice")
		leases[r.Data["serial_number"].(string)] = r
	}
	have := make(map[string]string) // what the reader applied: serial → key
	var index0 uint64
	after, pages := "", 0
	addedBelow, removedSeen, removedUnseen := false, false, false
	for {
		p := env.peersPage("0", after, 4)
		require.True(t, p.Full)
		if pages == 0 {
			index0 = p.Index
		}
		pages++
		for _, peer := range p.Peers {
			require.Greater(t, peer.SerialNumber, after, "a page goes past its cursor only")
			have[peer.SerialNumber] = peer.PublicKey
		}
		if p.Next == "" {
			break
		}
		after = p.Next
		require.Less(t, pages, 30, "paging does not end")
		// Between pages: issue until one lands below the cursor
		// (serials are random), revoke a peer already read and one
		// not read yet.
		if !addedBelow && pages >= 3 {
			for range 40 {
				r := env.issue("bob")
				s := r.Data["serial_number"].(string)
				leases[s] = r
				if s < after {
					addedBelow = true
					break
				}
			}
		}
		if !removedSeen {
			for s := range have {
				if r, ok := leases[s]; ok {
					env.revokeLease(r)
					delete(leases, s)
					removedSeen = true
					break
				}
			}
		}
		if !removedUnseen && pages == 2 {
			for s, r := range leases {
				if s > after {
					env.revokeLease(r)
					delete(leases, s)
					removedUnseen = true
					break
				}
			}
		}
	}
	require.True(t, addedBelow && removedSeen && removedUnseen, "the changes the test is about did not happen")
	live := env.livePeers()
	require.NotEqual(t, live, have, "the pages alone should miss what moved behind the cursor")

	delta := env.peers(itoa(index0))
	require.False(t, delta.Full, "index0 is recent: the changes since, not a full set")
	for _, r := range delta.Removed {
		delete(have, r.SerialNumber)
	}
	for _, peer := range delta.Peers {
		have[peer.SerialNumber] = peer.PublicKey
	}
	require.Equal(t, live, have)
	whole := make(map[string]string)
	for _, peer := range env.peers("0").Peers {
		whole[peer.SerialNumber] = peer.PublicKey
	}
	require.Equal(t, whole, have)
}

// A limit over peerfeed.MaxPage is cut to it: the page holds MaxPage peers
// and names the next.
func TestPeersPageLimitIsCapped(t *testing.T) {
	env := newTestEnv(t)
	for range peerfeed.MaxPage + 1 {
		if _, err := env.do(logical.UpdateOperation, "issue/laptop", map[string]any{"public_key": mustKey(t)}); err != nil {
			t.Fatal(err)
		}
	}
	first := env.peersPage("0", "", 10*peerfeed.MaxPage)
	require.Len(t, first.Peers, peerfeed.MaxPage)
	require.Equal(t, first.Peers[peerfeed.MaxPage-1].SerialNumber, first.Next)
	last := env.peersPage("0", first.Next, 10*peerfeed.MaxPage)
	require.Len(t, last.Peers, 1)
	require.Empty(t, last.Next)
}

// TestPeersCertificateFormat: a read that asks certificate_format=der gets
// each peer's certificate as DER in certificate_der, and no PEM, addresses
// or expiration (the certificate's), in every
// kind of answer (the whole set, a page, a delta); a read that does not
// ask (a daemon before the choice) or asks pem gets the PEM in
// certificate as before. The signature is the same either way: over the
// DER. Anything else is refused, naming the field.
func TestPeersCertificateFormat(t *testing.T) {
	env := newTestEnv(t)
	ca := env.currentCA()
	issued := map[string]bool{}
	for range 3 {
		issued[env.issue("alice").Data["serial_number"].(string)] = true
	}
	read := func(data map[string]any) peerfeed.Response {
		t.Helper()
		var body struct {
			Data peerfeed.Response `json:"data"`
		}
		require.NoError(t, json.Unmarshal(feedBody(t, env.ok(logical.ReadOperation, "gateways/gw1/peers", data)), &body))
		return body.Data
	}
	// The certificates by serial, as PEM answers carry them.
	pemOf := map[string]string{}
	for _, p := range read(nil).Peers {
		require.Empty(t, p.CertificateDER)
		pemOf[p.SerialNumber] = p.Certificate
	}
	require.Len(t, pemOf, 3)
	requireDER := func(resp peerfeed.Response, n int) {
		t.Helper()
		require.Len(t, resp.Peers, n)
		for _, p := range resp.Peers {
			require.Empty(t, p.Certificate, "no PEM beside the DER")
			require.Nil(t, p.AllowedIPs, "the addresses are the certificate's")
			require.True(t, p.Expiration.IsZero(), "the expiration is the certificate's")
			c, err := wgcert.ParsePEM([]byte(pemOf[p.SerialNumber]))
			require.NoError(t, err)
			require.Equal(t, c.X509.Raw, p.CertificateDER)
		}
		// requireSignedBy reads the PEM: the same signature must verify
		// with the DER as the PEM answer gave it.
		withPEM := resp
		withPEM.Peers = nil
		for _, p := range resp.Peers {
			withPEM.Peers = append(withPEM.Peers, peerfeed.Peer{SerialNumber: p.SerialNumber, Certificate: pemOf[p.SerialNumber]})
		}
		requireSignedBy(t, ca, withPEM, issued)
	}
	// The whole set (after a PEM read of the same revision: the shared
	// answer is per format), a page, the rest, a delta.
	full := read(map[string]any{"certificate_format": "der"})
	requireDER(full, 3)
	page := read(map[string]any{"index": "0", "limit": 2, "certificate_format": "der"})
	requireDER(page, 2)
	requireDER(read(map[string]any{"index": "0", "limit": 2, "after": page.Next, "certificate_format": "der"}), 1)
	issued[env.issue("bob").Data["serial_number"].(string)] = true
	for _, p := range read(nil).Peers {
		pemOf[p.SerialNumber] = p.Certificate
	}
	delta := read(map[string]any{"index": itoa(full.Index), "certificate_format": "der"})
	require.False(t, delta.Full)
	requireDER(delta, 1)

	// pem, or nothing: PEM only, in every kind of answer.
	for _, data := range []map[string]any{
		{"certificate_format": "pem"}, {}, {"index": "0", "limit": 2},
		{"index": itoa(full.Index)}, {"index": itoa(full.Index), "certificate_format": "pem"},
	} {
		resp := read(data)
		require.NotEmpty(t, resp.Peers, "%v", data)
		for _, p := range resp.Peers {
			require.Empty(t, p.CertificateDER, "%v", data)
			require.Equal(t, pemOf[p.SerialNumber], p.Certificate, "%v", data)
			require.NotEmpty(t, p.AllowedIPs, "%v", data)
			require.False(t, p.Expiration.IsZero(), "%v", data)
		}
	}

	env.fails(logical.ReadOperation, "gateways/gw1/peers", map[string]any{"certificate_format": "DER"},
		`certificate_format: "DER" is neither pem nor der`)
}

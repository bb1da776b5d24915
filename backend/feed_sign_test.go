package backend

import (
	"crypto/x509"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"
	"github.com/stretchr/testify/require"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/peerfeed"
	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/wgcert"
)

// requireSignedBy checks that resp's signature is ca's over its peers'
// certificates in order, with zeros exactly for the certificates ca did
// not issue (issued lists, by serial, those it did).
func requireSignedBy(t *testing.T, ca *x509.Certificate, resp peerfeed.Response, issued map[string]bool) {
	t.Helper()
	sig := resp.Signature
	require.NotNil(t, sig, "an answer with peers is signed")
	require.Equal(t, caKeyID(ca), sig.KeyID)
	require.NoError(t, wgcert.VerifyFeed(ca, sig.Digests, sig.Value))
	require.Len(t, sig.Digests, len(resp.Peers)*wgcert.DigestSize)
	for i, p := range resp.Peers {
		c, err := wgcert.ParsePEM([]byte(p.Certificate))
		require.NoError(t, err)
		want := make([]byte, wgcert.DigestSize)
		if issued[p.SerialNumber] {
			d := wgcert.FeedDigest(c.X509.Raw)
			want = d[:]
		}
		require.Equal(t, want, sig.Digests[i*wgcert.DigestSize:(i+1)*wgcert.DigestSize], "digest of peer %d (%s)", i, p.SerialNumber)
	}
}

// TestFeedAnswersSigned: every answer that carries peers (the whole set,
// a page of it, a delta) is signed by the current CA over its
// certificates; one without peers is not.
func TestFeedAnswersSigned(t *testing.T) {
	env := newTestEnv(t)
	ca := env.currentCA()
	issued := map[string]bool{}
	for range 5 {
		issued[env.issue("alice").Data["serial_number"].(string)] = true
	}
	full := env.peers("0")
	require.Len(t, full.Peers, 5)
	requireSignedBy(t, ca, full, issued)

	page := env.peersPage("0", "", 2)
	require.Len(t, page.Peers, 2)
	requireSignedBy(t, ca, page, issued)
	rest := env.peersPage("0", page.Next, 1000)
	require.Len(t, rest.Peers, 3)
	requireSignedBy(t, ca, rest, issued)

	issued[env.issue("bob").Data["serial_number"].(string)] = true
	delta := env.peers(itoa(full.Index))
	require.False(t, delta.Full)
	require.Len(t, delta.Peers, 1)
	requireSignedBy(t, ca, delta, issued)

	// Nothing new: no peers, nothing signed.
	idle := env.peers(itoa(delta.Index))
	require.Empty(t, idle.Peers)
	require.Nil(t, idle.Signature)
}

// TestFeedSignatureFollowsTheBytes: the signature changes when a
// certificate's DER does, and covers the order of the peers.
func TestFeedSignatureFollowsTheBytes(t *testing.T) {
	env := newTestEnv(t)
	for range 3 {
		env.issue("alice")
	}
	ca, err := env.b.getCA(t.Context(), env.storage)
	require.NoError(t, err)
	signer := feedSignerOf(ca)
	require.NotNil(t, signer)
	env.b.reg.mu.Lock()
	var recs []*certRecord
	for _, rec := range env.b.reg.feed("gw1").live {
		recs = append(recs, rec)
	}
	env.b.reg.mu.Unlock()
	require.Len(t, recs, 3)

	sig, err := signer.sign(recs)
	require.NoError(t, err)
	require.NoError(t, wgcert.VerifyFeed(ca.cert, sig.Digests, sig.Value))

	changed := *recs[1]
	changed.Certificate = append([]byte(nil), recs[1].Certificate...)
	changed.Certificate[len(changed.Certificate)-1] ^= 1
	other, err := signer.sign([]*certRecord{recs[0], &changed, recs[2]})
	require.NoError(t, err)
	require.Equal(t, sig.Digests[:wgcert.DigestSize], other.Digests[:wgcert.DigestSize])
	require.NotEqual(t, sig.Digests[wgcert.DigestSize:2*wgcert.DigestSize], other.Digests[wgcert.DigestSize:2*wgcert.DigestSize])
	require.Error(t, wgcert.VerifyFeed(ca.cert, other.Digests, sig.Value), "the old signature does not cover the changed certificate")

	swapped, err := signer.sign([]*certRecord{recs[1], recs[0], recs[2]})
	require.NoError(t, err)
	require.Error(t, wgcert.VerifyFeed(ca.cert, swapped.Digests, sig.Value), "the order is signed")

	// More peers than a signature may cover: none.
	many := make([]*certRecord, peerfeed.MaxSigned+1)
	for i := range many {
		many[i] = recs[0]
	}
	none, err := signer.sign(many)
	require.NoError(t, err)
	require.Nil(t, none)
}

// TestFeedSignedByTheCurrentCAOnly: after a rotation the answers are
// signed by the new CA, which vouches only for the certificates it
// issued: those of the previous CA have zeros, and a gateway checks them
// one by one.
func TestFeedSignedByTheCurrentCAOnly(t *testing.T) {
	for _, keyType := range []string{"ed25519", "ec"} {
		t.Run(keyType, func(t *testing.T) {
			env := newTestEnv(t)
			old := env.issue("alice").Data["serial_number"].(string)
			env.ok(logical.UpdateOperation, "config/ca", map[string]any{"key_type": keyType, "common_name": "Second CA"})
			second := env.currentCA()
			fresh := env.issue("bob").Data["serial_number"].(string)
			full := env.peers("0")
			require.Len(t, full.Peers, 2)
			requireSignedBy(t, second, full, map[string]bool{fresh: true, old: false})
		})
	}
}

package wgcert

import (
	"bytes"
	"crypto/x509"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestFeedMessage: the message is the label, its NUL, then the digests as
// given; it cannot be read as anything else a CA signs (a TBSCertificate
// or a TBSCertList starts with 0x30).
func TestFeedMessage(t *testing.T) {
	d1 := FeedDigest([]byte("one"))
	d2 := FeedDigest([]byte("two"))
	for _, tt := range []struct {
		name    string
		digests []byte
		want    []byte
	}{
		{"none", nil, []byte("wg-gateway-feed-v1\x00")},
		{"one", d1[:], append([]byte("wg-gateway-feed-v1\x00"), d1[:]...)},
		{"in order", append(slices.Clone(d1[:]), d2[:]...), append(append([]byte("wg-gateway-feed-v1\x00"), d1[:]...), d2[:]...)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := FeedMessage(tt.digests)
			require.Equal(t, tt.want, got)
			require.NotEqual(t, byte(0x30), got[0])
		})
	}
	require.NotEqual(t, FeedMessage(append(slices.Clone(d1[:]), d2[:]...)), FeedMessage(append(slices.Clone(d2[:]), d1[:]...)),
		"the order of the certificates is signed")
}

// TestSignFeed: a CA's feed signature verifies with its key, for both key
// types, and with nothing else: not another CA's key, not other digests,
// not a certificate's signature taken for one.
func TestSignFeed(t *testing.T) {
	for _, keyType := range []string{KeyTypeEd25519, KeyTypeEC} {
		t.Run(keyType, func(t *testing.T) {
			ca := newCA(t, keyType, "test CA")
			other := newCA(t, keyType, "test CA")
			c := issue(t, ca, newTemplate(t, newKey(t)))
			d := FeedDigest(c.X509.Raw)
			digests := append(slices.Clone(d[:]), make([]byte, DigestSize)...)
			sig, err := SignFeed(ca.Signer, digests)
			require.NoError(t, err)
			require.NoError(t, VerifyFeed(ca.Cert, digests, sig))

			require.ErrorIs(t, VerifyFeed(other.Cert, digests, sig), ErrBadFeedSignature)
			changed := slices.Clone(digests)
			changed[0] ^= 1
			require.ErrorIs(t, VerifyFeed(ca.Cert, changed, sig), ErrBadFeedSignature)
			require.ErrorIs(t, VerifyFeed(ca.Cert, digests[:DigestSize], sig), ErrBadFeedSignature)
			require.ErrorIs(t, VerifyFeed(ca.Cert, digests[:DigestSize+1], sig), ErrBadFeedSignature)
			require.ErrorIs(t, VerifyFeed(ca.Cert, c.X509.RawTBSCertificate, c.X509.Signature), ErrBadFeedSignature)
			require.ErrorIs(t, VerifyFeed(ca.Cert, digests, c.X509.Signature), ErrBadFeedSignature)
			// A leaf may not sign: it is no CA.
			leaf := *ca.Cert
			leaf.IsCA = false
			require.ErrorIs(t, VerifyFeed(&leaf, digests, sig), ErrBadFeedSignature)

			_, err = SignFeed(ca.Signer, digests[:DigestSize-1])
			require.ErrorIs(t, err, ErrBadFeedSignature)
		})
	}
}

// TestVerifySignedBy: a signature vouched for by a root stands for the
// certificate's own only when that root has the certificate's issuer's
// name, key identifier and the vouching key; the other checks are made
// all the same.
func TestVerifySignedBy(t *testing.T) {
	ca := newCA(t, KeyTypeEd25519, "test CA")
	other := newCA(t, KeyTypeEd25519, "other CA")
	sameName := newCA(t, KeyTypeEd25519, "test CA") // a rotated CA: same name, other key
	key := newKey(t)
	c := issue(t, ca, newTemplate(t, key))
	// The same certificate with a damaged signature: only a vouching
	// root admits it.
	der := slices.Clone(c.X509.Raw)
	der[len(der)-1] ^= 0xff
	damaged, err := Parse(der)
	require.NoError(t, err)
	opts := func(signedBy *x509.Certificate, roots ...*x509.Certificate) VerifyOptions {
		return VerifyOptions{Roots: roots, Gateway: "gw1", PublicKey: &key, SignedBy: signedBy}
	}
	expiredCA := *ca.Cert
	expiredCA.NotAfter = testNow.Add(-time.Second)
	otherKeyID := *ca.Cert
	otherKeyID.SubjectKeyId = bytes.Repeat([]byte{7}, 20)

	require.NoError(t, Verify(testNow, damaged, opts(ca.Cert, ca.Cert)))
	require.NoError(t, Verify(testNow, damaged, opts(ca.Cert, other.Cert, sameName.Cert, ca.Cert)))
	require.NoError(t, Verify(testNow, c, opts(other.Cert, ca.Cert)), "a genuine certificate needs no vouching")
	for _, tt := range []struct {
		name string
		opts VerifyOptions
		want error
	}{
		{"not vouched for", opts(nil, ca.Cert), ErrUnknownAuthority},
		{"vouched for by another root", opts(other.Cert, ca.Cert, other.Cert), ErrUnknownAuthority},
		{"vouched for by a root of the same name", opts(sameName.Cert, ca.Cert, sameName.Cert), ErrUnknownAuthority},
		{"vouched for by the issuer, not trusted", opts(ca.Cert, other.Cert), ErrUnknownAuthority},
		{"the vouching root has another key id", opts(&otherKeyID, &otherKeyID), ErrUnknownAuthority},
		{"the vouching root has expired", opts(&expiredCA, &expiredCA), ErrCAExpired},
		{"other checks still made", func() VerifyOptions { o := opts(ca.Cert, ca.Cert); o.Gateway = "gw9"; return o }(), ErrWrongGateway},
	} {
		t.Run(tt.name, func(t *testing.T) {
			require.ErrorIs(t, Verify(testNow, damaged, tt.opts), tt.want)
		})
	}
	require.ErrorIs(t, Verify(testNow.Add(2*time.Hour), damaged, opts(ca.Cert, ca.Cert)), ErrExpired)
}

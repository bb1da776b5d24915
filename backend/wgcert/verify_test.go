package wgcert

import (
	"crypto/rand"
	"crypto/x509"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

func TestVerify(t *testing.T) {
	ca := newCA(t, KeyTypeEd25519, "test CA")
	foreign := newCA(t, KeyTypeEd25519, "foreign CA")
	sameName := newCA(t, KeyTypeEC, "test CA") // a rotated CA: same name, other key
	key := newKey(t)
	otherKey := newKey(t)
	c := issue(t, ca, newTemplate(t, key)) // valid testNow-1m .. testNow+1h

	pools := []netip.Prefix{netip.MustParsePrefix("10.77.0.0/16"), netip.MustParsePrefix("fd77::/64")}
	good := VerifyOptions{
		Roots:     []*x509.Certificate{ca.Cert},
		Gateway:   "gw1",
		PublicKey: &key,
		Pools:     pools,
	}
	with := func(change func(*VerifyOptions)) VerifyOptions {
		o := good
		change(&o)
		return o
	}

	tests := []struct {
		name    string
		now     time.Time
		opts    VerifyOptions
		wantErr error
		wantMsg string
	}{
		{name: "OK", now: testNow, opts: good},
		{name: "OK, only a signature asked for", now: testNow, opts: VerifyOptions{Roots: good.Roots}},
		{name: "OK, second gateway", now: testNow, opts: with(func(o *VerifyOptions) { o.Gateway = "gw-2.example" })},
		{name: "OK at NotBefore", now: c.NotBefore, opts: good},
		{name: "OK at NotAfter", now: c.NotAfter, opts: good},
		{name: "CA bundle, the right CA second", now: testNow,
			opts: with(func(o *VerifyOptions) { o.Roots = []*x509.Certificate{foreign.Cert, sameName.Cert, ca.Cert} })},
		{name: "foreign CA", now: testNow,
			opts:    with(func(o *VerifyOptions) { o.Roots = []*x509.Certificate{foreign.Cert} }),
			wantErr: ErrUnknownAuthority, wantMsg: `issuer "CN=test CA"`},
		{name: "CA with the same name, other key", now: testNow,
			opts:    with(func(o *VerifyOptions) { o.Roots = []*x509.Certificate{sameName.Cert} }),
			wantErr: ErrUnknownAuthority, wantMsg: "matches none of the 1 trusted CAs"},
		{name: "no roots", now: testNow,
			opts:    with(func(o *VerifyOptions) { o.Roots = nil }),
			wantErr: ErrUnknownAuthority, wantMsg: "none of the 0 trusted CAs"},
		{name: "expired", now: testNow.Add(time.Hour + time.Second), opts: good,
			wantErr: ErrExpired, wantMsg: "certificate expired at 2026-03-01T13:00:00Z, now is 2026-03-01T13:00:01Z"},
		{name: "not yet valid", now: testNow.Add(-2 * time.Minute), opts: good,
			wantErr: ErrNotYetValid, wantMsg: "valid from 2026-03-01T11:59:00Z, now is 2026-03-01T11:58:00Z"},
		{name: "wrong gateway", now: testNow,
			opts:    with(func(o *VerifyOptions) { o.Gateway = "gw3" }),
			wantErr: ErrWrongGateway, wantMsg: `certificate is for gateways ["gw1" "gw-2.example"], not "gw3"`},
		{name: "key mismatch", now: testNow,
			opts:    with(func(o *VerifyOptions) { o.PublicKey = &otherKey }),
			wantErr: ErrKeyMismatch, wantMsg: "certificate binds " + key.String() + ", want " + otherKey.String()},
		{name: "IPv6 address outside the pools", now: testNow,
			opts:    with(func(o *VerifyOptions) { o.Pools = pools[:1] }),
			wantErr: ErrAddressOutsidePool, wantMsg: "address fd77::2 is in none of [10.77.0.0/16]"},
		{name: "IPv4 address outside the pools", now: testNow,
			opts: with(func(o *VerifyOptions) {
				o.Pools = []netip.Prefix{netip.MustParsePrefix("10.77.1.0/24"), netip.MustParsePrefix("fd77::/64")}
			}),
			wantErr: ErrAddressOutsidePool, wantMsg: "address 10.77.0.2 is in none of"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Verify(tt.now, c, tt.opts)
			if tt.wantErr == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tt.wantErr)
			require.Contains(t, err.Error(), tt.wantMsg)
		})
	}
}

func TestVerifyReadsTheSignedCertificate(t *testing.T) {
	ca := newCA(t, KeyTypeEd25519, "test CA")
	key := newKey(t)
	c := issue(t, ca, newTemplate(t, key))

	// A caller that edits the convenience fields does not change what is verified.
	forged := *c
	forged.PublicKey = newKey(t)
	forged.Gateways = []string{"gw9"}
	forged.Addresses = []netip.Addr{netip.MustParseAddr("192.0.2.1")}
	forged.NotAfter = testNow.AddDate(1, 0, 0)

	opts := VerifyOptions{Roots: []*x509.Certificate{ca.Cert}, PublicKey: &key, Gateway: "gw1",
		Pools: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd77::/16")}}
	require.NoError(t, Verify(testNow, &forged, opts))
	require.ErrorIs(t, Verify(testNow.Add(2*time.Hour), &forged, opts), ErrExpired)
	opts.PublicKey = &forged.PublicKey
	require.ErrorIs(t, Verify(testNow, &forged, opts), ErrKeyMismatch)
}

func TestVerifyNil(t *testing.T) {
	require.Error(t, Verify(testNow, nil, VerifyOptions{}))
	require.Error(t, Verify(testNow, &Certificate{PublicKey: wgtypes.Key{1}}, VerifyOptions{}))
}

// reissueCA returns ca's certificate issued again, self-signed with the
// same name and key, for another validity period.
func reissueCA(t testing.TB, ca testCA, notBefore, notAfter time.Time) *x509.Certificate {
	t.Helper()
	tmpl := *ca.Cert
	tmpl.NotBefore, tmpl.NotAfter = notBefore, notAfter
	der, err := x509.CreateCertificate(rand.Reader, &tmpl, &tmpl, ca.Signer.Public(), ca.Signer)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return cert
}

// TestVerifyChecksTheCAValidity: a leaf is worth nothing once its CA has
// expired (or before the CA is valid), even while the leaf itself is.
func TestVerifyChecksTheCAValidity(t *testing.T) {
	ca := newCA(t, KeyTypeEd25519, "test CA")
	c := issue(t, ca, newTemplate(t, newKey(t))) // valid testNow-1m .. testNow+1h
	expired := reissueCA(t, ca, testNow.Add(-48*time.Hour), testNow.Add(-time.Second))
	future := reissueCA(t, ca, testNow.Add(time.Second), testNow.AddDate(1, 0, 0))

	tests := []struct {
		name    string
		roots   []*x509.Certificate
		wantMsg string
	}{
		{"CA expired", []*x509.Certificate{expired}, "issuing CA \"CN=test CA\" expired at 2026-03-01T11:59:59Z, now is 2026-03-01T12:00:00Z"},
		{"CA not yet valid", []*x509.Certificate{future}, "issuing CA \"CN=test CA\" valid from 2026-03-01T12:00:01Z, now is 2026-03-01T12:00:00Z"},
		{"CA expired, its renewal valid", []*x509.Certificate{expired, ca.Cert}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Verify(testNow, c, VerifyOptions{Roots: tt.roots})
			if tt.wantMsg == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrCAExpired)
			require.Contains(t, err.Error(), tt.wantMsg)
		})
	}
}

package gateway

import (
	"crypto/x509"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/peerfeed"
	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/wgcert"
	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/wgkey"
)

func newTestCA(t testing.TB, now time.Time) (*x509.Certificate, func(*wgcert.Template) string) {
	t.Helper()
	certDER, keyDER, err := wgcert.GenerateCA("ed25519", "Test CA", now.Add(-time.Hour), now.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(certDER)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := wgcert.ParsePKCS8Signer(keyDER)
	if err != nil {
		t.Fatal(err)
	}
	return ca, func(tmpl *wgcert.Template) string {
		der, err := wgcert.Create(tmpl, ca, signer)
		if err != nil {
			t.Fatal(err)
		}
		return wgcert.EncodePEM(der)
	}
}

func TestVerifierRejects(t *testing.T) {
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	ca, sign := newTestCA(t, now)
	_, foreignSign := newTestCA(t, now)
	_, pub, _ := wgkey.Generate()
	_, other, _ := wgkey.Generate()
	pools := []netip.Prefix{netip.MustParsePrefix("10.77.0.0/16")}
	tmpl := func(edit func(*wgcert.Template)) *wgcert.Template {
		serial, _ := wgcert.NewSerial()
		tt := &wgcert.Template{
			SerialNumber: serial, CommonName: "dev", PublicKey: pub,
			Addresses: []netip.Addr{netip.MustParseAddr("10.77.0.2")}, Gateways: []string{"gw1"},
			NotBefore: now.Add(-time.Minute), NotAfter: now.Add(time.Hour),
		}
		if edit != nil {
			edit(tt)
		}
		return tt
	}
	entry := func(cert string, k string) peerfeed.Peer {
		e := peerfeed.Peer{SerialNumber: "01", PublicKey: k, Certificate: cert}
		if c, err := wgcert.ParsePEM([]byte(cert)); err == nil {
			e.SerialNumber = c.SerialNumber.Text(16)
		}
		return e
	}
	v := &Verifier{Roots: []*x509.Certificate{ca}, Gateway: "gw1"}

	// The entry's own claims (addresses, expiry) count for nothing: the
	// peer gets what the certificate says.
	good := entry(sign(tmpl(nil)), pub.String())
	good.AllowedIPs = []string{"0.0.0.0/0", "::/0"}
	good.Expiration = now.AddDate(10, 0, 0)
	peer, rej := v.Verify(now, good, pools)
	if rej != nil {
		t.Fatalf("good entry rejected: %v", rej)
	}
	if peer.Key != pub || len(peer.AllowedIPs) != 1 || peer.AllowedIPs[0] != netip.MustParsePrefix("10.77.0.2/32") || !peer.NotAfter.Equal(now.Add(time.Hour)) {
		t.Fatalf("peer = %+v", peer)
	}

	tests := []struct {
		name   string
		entry  peerfeed.Peer
		reason string
	}{
		{"foreign CA", entry(foreignSign(tmpl(nil)), pub.String()), "authority"},
		{"expired", entry(sign(tmpl(func(t *wgcert.Template) { t.NotBefore, t.NotAfter = now.Add(-2*time.Hour), now.Add(-time.Hour) })), pub.String()), "expired"},
		{"not yet valid", entry(sign(tmpl(func(t *wgcert.Template) { t.NotBefore = now.Add(time.Minute) })), pub.String()), "not_yet_valid"},
		{"other gateway", entry(sign(tmpl(func(t *wgcert.Template) { t.Gateways = []string{"gw2"} })), pub.String()), "gateway"},
		{"key differs from entry", entry(sign(tmpl(nil)), other.String()), "key_mismatch"},
		{"address outside pools", entry(sign(tmpl(func(t *wgcert.Template) { t.Addresses = []netip.Addr{netip.MustParseAddr("192.0.2.7")} })), pub.String()), "address"},
		{"not a certificate", entry("junk", pub.String()), "parse"},
		{"bad key", entry(sign(tmpl(nil)), "AAAA"), "key"},
		{"serial differs from entry", func() peerfeed.Peer {
			e := entry(sign(tmpl(nil)), pub.String())
			e.SerialNumber = "0badc0de"
			return e
		}(), "serial"},
	}
	t.Run("CA expired", func(t *testing.T) {
		// A day later the CA (valid for 24 h) has expired; the leaf has not.
		later := now.Add(25 * time.Hour)
		e := entry(sign(tmpl(func(t *wgcert.Template) { t.NotAfter = later.Add(time.Hour) })), pub.String())
		_, rej := v.Verify(later, e, pools)
		if rej == nil || rej.Reason != "ca_expired" {
			t.Fatalf("rejection %v, want ca_expired", rej)
		}
	})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, rej := v.Verify(now, tt.entry, pools)
			if rej == nil {
				t.Fatal("accepted")
			}
			if rej.Reason != tt.reason {
				t.Fatalf("reason = %q (%v), want %q", rej.Reason, rej.Err, tt.reason)
			}
			if errors.Unwrap(rej) != nil && rej.Error() == "" {
				t.Fatal("empty message")
			}
		})
	}
}

package gateway

import (
	"crypto/x509"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/peerfeed"
)

// BenchmarkVerifyPage verifies one page of 1,000 entries on one CPU,
// unsigned (each certificate's signature checked) and signed (one
// signature for the page).
func BenchmarkVerifyPage(b *testing.B) {
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	ca := newSigningCA(b, now, "ed25519", "Test CA")
	pools := []netip.Prefix{netip.MustParsePrefix("10.77.0.0/16")}
	v := &Verifier{Roots: []*x509.Certificate{ca.cert}, Gateway: "gw1", ruleSets: newRuleSets()}
	entries := make([]peerfeed.Peer, peerfeed.MaxPage)
	ders := make([][]byte, len(entries))
	for i := range entries {
		der, k := ca.issue(b, now, fmt.Sprintf("10.77.%d.%d", 1+i/200, 2+i%200))
		entries[i], ders[i] = feedEntry(b, der, k), der
	}
	sig := ca.signAnswer(b, ders...)
	for _, tt := range []struct {
		name string
		sig  *peerfeed.Signature
	}{{"unsigned", nil}, {"signed", sig}} {
		b.Run(tt.name, func(b *testing.B) {
			for b.Loop() {
				signed := newSignedAnswer(tt.sig, nil)
				for i, e := range entries {
					if _, rej := v.verify(now, e, pools, signed, i); rej != nil {
						b.Fatal(rej)
					}
				}
			}
		})
	}
}

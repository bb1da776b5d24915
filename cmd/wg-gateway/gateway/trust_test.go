package gateway

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"slices"
	"testing"
	"time"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/wgcert"
)

// A trustCA is a CA certificate with its key, for the trust tests and to
// issue certificates and sign feed answers as the engine does.
type trustCA struct {
	cert   *x509.Certificate
	signer crypto.Signer
}

// genCA generates an Ed25519 CA named cn, valid from notBefore to notAfter.
func genCA(t *testing.T, cn string, notBefore, notAfter time.Time) trustCA {
	t.Helper()
	return genCAOf(t, "ed25519", cn, notBefore, notAfter)
}

// genCAOf generates a CA of keyType named cn, valid from notBefore to
// notAfter.
func genCAOf(t testing.TB, keyType, cn string, notBefore, notAfter time.Time) trustCA {
	t.Helper()
	certDER, keyDER, err := wgcert.GenerateCA(keyType, cn, notBefore, notAfter)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(certDER)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := wgcert.ParsePKCS8Signer(keyDER)
	if err != nil {
		t.Fatal(err)
	}
	return trustCA{cert, signer}
}

// crossSign certifies subject's name and key as a CA, signed by issuer:
// what the engine's CA rotation publishes beside the new CA.
func crossSign(t *testing.T, subject *x509.Certificate, issuer trustCA, notBefore, notAfter time.Time) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), RawSubject: subject.RawSubject,
		NotBefore: notBefore, NotAfter: notAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true, IsCA: true, MaxPathLenZero: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuer.cert, subject.PublicKey, issuer.signer)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// selfSign certifies ca's key again under ca's name, for another period.
func selfSign(t *testing.T, ca trustCA, notBefore, notAfter time.Time) *x509.Certificate {
	t.Helper()
	tmpl := *ca.cert
	tmpl.NotBefore, tmpl.NotAfter = notBefore, notAfter
	tmpl.SerialNumber = big.NewInt(time.Now().UnixNano())
	der, err := x509.CreateCertificate(rand.Reader, &tmpl, &tmpl, ca.signer.Public(), ca.signer)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func TestAcceptRoots(t *testing.T) {
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	year := now.AddDate(1, 0, 0)
	old := genCA(t, "WG CA", now.AddDate(-1, 0, 0), year)
	next := genCA(t, "WG CA 2", now.Add(-time.Minute), now.AddDate(2, 0, 0))
	evil := genCA(t, "WG CA 2", now.Add(-time.Minute), now.AddDate(2, 0, 0)) // the same name as next
	expiredOld := genCA(t, "WG CA old", now.AddDate(-2, 0, 0), now.Add(-time.Hour))
	cross := crossSign(t, next.cert, old, now.Add(-time.Minute), year)
	crossByEvil := crossSign(t, next.cert, evil, now.Add(-time.Minute), year)
	crossEvilByOld := crossSign(t, evil.cert, old, now.Add(-time.Minute), year)
	crossExpired := crossSign(t, next.cert, old, now.Add(-48*time.Hour), now.Add(-time.Hour))
	crossByExpired := crossSign(t, next.cert, expiredOld, now.Add(-time.Minute), year)
	renewed := selfSign(t, old, now.Add(-time.Minute), now.AddDate(5, 0, 0))
	sameName := genCA(t, "WG CA", now.Add(-time.Minute), now.AddDate(2, 0, 0)) // a new key under old's name
	crossSameName := crossSign(t, sameName.cert, old, now.Add(-time.Minute), year)
	// A certificate naming old as its issuer without old's signature.
	posing := *old.cert
	posing.PublicKey = evil.signer.Public()
	forged := crossSign(t, next.cert, trustCA{cert: &posing, signer: evil.signer}, now.Add(-time.Minute), year)
	// A self-signed certificate that is not a CA.
	leafTmpl := *evil.cert
	leafTmpl.IsCA, leafTmpl.MaxPathLenZero, leafTmpl.KeyUsage = false, false, x509.KeyUsageDigitalSignature
	leafDER, err := x509.CreateCertificate(rand.Reader, &leafTmpl, &leafTmpl, evil.signer.Public(), evil.signer)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(leafDER)
	if err != nil {
		t.Fatal(err)
	}

	certs := func(cs ...*x509.Certificate) []*x509.Certificate { return cs }
	tests := []struct {
		name            string
		pinned, bundle  []*x509.Certificate
		trusted, added  []*x509.Certificate
		dropped         []*x509.Certificate
		refused         []*x509.Certificate
		refusedBecause  string
		wantNoneTrusted bool
	}{
		{name: "the pinned bundle", pinned: certs(old.cert), bundle: certs(old.cert), trusted: certs(old.cert)},
		{name: "a MITM adds its own CA", pinned: certs(old.cert), bundle: certs(old.cert, evil.cert),
			trusted: certs(old.cert), refused: certs(evil.cert), refusedBecause: "not cross-signed by a pinned CA"},
		{name: "a MITM replaces the bundle", pinned: certs(old.cert), bundle: certs(evil.cert),
			refused: certs(evil.cert), wantNoneTrusted: true},
		{name: "an empty bundle", pinned: certs(old.cert), bundle: nil, wantNoneTrusted: true},
		{name: "rotation with a cross-signature", pinned: certs(old.cert), bundle: certs(old.cert, next.cert, cross),
			trusted: certs(old.cert, next.cert), added: certs(next.cert)},
		{name: "rotation, the cross-signature first", pinned: certs(old.cert), bundle: certs(cross, next.cert, old.cert),
			trusted: certs(next.cert, old.cert), added: certs(next.cert)},
		{name: "rotation under the same name", pinned: certs(old.cert), bundle: certs(sameName.cert, crossSameName, old.cert),
			trusted: certs(sameName.cert, old.cert), added: certs(sameName.cert)},
		{name: "rotation without a cross-signature", pinned: certs(old.cert), bundle: certs(old.cert, next.cert),
			trusted: certs(old.cert), refused: certs(next.cert), refusedBecause: "not cross-signed by a pinned CA"},
		{name: "cross-signed by a CA that is not pinned", pinned: certs(old.cert), bundle: certs(old.cert, evil.cert, next.cert, crossByEvil),
			trusted: certs(old.cert), refused: certs(evil.cert, next.cert)},
		{name: "a cross-signature of another key with the same name", pinned: certs(old.cert), bundle: certs(old.cert, next.cert, crossEvilByOld),
			trusted: certs(old.cert), refused: certs(next.cert)},
		{name: "a forged cross-signature", pinned: certs(old.cert), bundle: certs(old.cert, next.cert, forged),
			trusted: certs(old.cert), refused: certs(next.cert)},
		{name: "an expired cross-signature", pinned: certs(old.cert), bundle: certs(old.cert, next.cert, crossExpired),
			trusted: certs(old.cert), refused: certs(next.cert), refusedBecause: "its cross-signature is not valid now"},
		{name: "cross-signed by a pinned CA that expired", pinned: certs(expiredOld.cert), bundle: certs(expiredOld.cert, next.cert, crossByExpired),
			trusted: certs(expiredOld.cert), refused: certs(next.cert), refusedBecause: "cross-signed by a pinned CA that is not valid now"},
		{name: "a CA certificate that is not self-signed is no root", pinned: certs(old.cert), bundle: certs(old.cert, cross),
			trusted: certs(old.cert)},
		{name: "a leaf is no root", pinned: certs(old.cert), bundle: certs(old.cert, leaf), trusted: certs(old.cert)},
		{name: "the previous CA dropped after a rotation", pinned: certs(old.cert, next.cert), bundle: certs(next.cert),
			trusted: certs(next.cert), dropped: certs(old.cert)},
		{name: "the pinned key certified again", pinned: certs(old.cert), bundle: certs(renewed), trusted: certs(renewed)},
		{name: "duplicates", pinned: certs(old.cert), bundle: certs(old.cert, old.cert), trusted: certs(old.cert)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := AcceptRoots(now, tt.pinned, tt.bundle)
			if tt.wantNoneTrusted {
				if !errors.Is(err, ErrNoTrustedCA) {
					t.Fatalf("err = %v, want ErrNoTrustedCA", err)
				}
			} else if err != nil {
				t.Fatalf("AcceptRoots: %v", err)
			}
			same := func(what string, got, want []*x509.Certificate) {
				t.Helper()
				if !slices.EqualFunc(got, want, func(a, b *x509.Certificate) bool { return a.Equal(b) }) {
					t.Errorf("%s = %v, want %v", what, subjects(got), subjects(want))
				}
			}
			same("trusted", u.Trusted, tt.trusted)
			same("added", u.Added, tt.added)
			if !tt.wantNoneTrusted {
				same("dropped", u.Dropped, tt.dropped)
			}
			var refused []*x509.Certificate
			for _, r := range u.Refused {
				refused = append(refused, r.Cert)
				if tt.refusedBecause != "" && r.Reason != tt.refusedBecause {
					t.Errorf("refused %s because %q, want %q", r.Cert.Subject, r.Reason, tt.refusedBecause)
				}
			}
			same("refused", refused, tt.refused)
			if !tt.wantNoneTrusted && u.Changed() != (len(tt.added) > 0 || len(tt.dropped) > 0) {
				t.Errorf("Changed() = %v", u.Changed())
			}
		})
	}
}

func subjects(cs []*x509.Certificate) []pkix.Name {
	out := make([]pkix.Name, len(cs))
	for i, c := range cs {
		out[i] = c.Subject
	}
	return out
}

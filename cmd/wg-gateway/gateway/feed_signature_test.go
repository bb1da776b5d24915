package gateway

import (
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/peerfeed"
	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/wgcert"
	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/wgkey"
)

// newSigningCA generates a CA of keyType valid around now, to issue
// certificates and sign feed answers as the engine does.
func newSigningCA(t testing.TB, now time.Time, keyType, name string) trustCA {
	t.Helper()
	return genCAOf(t, keyType, name, now.Add(-time.Hour), now.Add(24*time.Hour))
}

// impostorOf is a CA of a key of its own that copies ca's name and key
// identifier: its certificates name ca as their issuer in every field,
// and only their signature tells them apart.
func impostorOf(t testing.TB, now time.Time, ca trustCA) trustCA {
	t.Helper()
	other := newSigningCA(t, now, "ed25519", "impostor")
	tmpl := &x509.Certificate{
		SerialNumber: ca.cert.SerialNumber, RawSubject: ca.cert.RawSubject, Subject: pkix.Name{},
		NotBefore: ca.cert.NotBefore, NotAfter: ca.cert.NotAfter, KeyUsage: ca.cert.KeyUsage,
		BasicConstraintsValid: true, IsCA: true, SubjectKeyId: ca.cert.SubjectKeyId,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, other.signer.Public(), other.signer)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return trustCA{cert: cert, signer: other.signer}
}

// issue returns a certificate of ca for a fresh key at addr on gw1, with
// its key.
func (ca trustCA) issue(t testing.TB, now time.Time, addr string) ([]byte, wgtypes.Key) {
	t.Helper()
	_, pub, err := wgkey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	serial, err := wgcert.NewSerial()
	if err != nil {
		t.Fatal(err)
	}
	der, err := wgcert.Create(&wgcert.Template{
		SerialNumber: serial, CommonName: "dev", PublicKey: pub,
		Addresses: []netip.Addr{netip.MustParseAddr(addr)}, Gateways: []string{"gw1"},
		NotBefore: now.Add(-time.Minute), NotAfter: now.Add(time.Hour),
	}, ca.cert, ca.signer)
	if err != nil {
		t.Fatal(err)
	}
	return der, pub
}

// signAnswer is ca's signature over ders, as the engine makes it: the
// digest of each (zeros for a nil one), then SignFeed.
func (ca trustCA) signAnswer(t testing.TB, ders ...[]byte) *peerfeed.Signature {
	t.Helper()
	digests := make([]byte, 0, len(ders)*wgcert.DigestSize)
	for _, der := range ders {
		if der == nil {
			digests = append(digests, make([]byte, wgcert.DigestSize)...)
			continue
		}
		d := wgcert.FeedDigest(der)
		digests = append(digests, d[:]...)
	}
	value, err := wgcert.SignFeed(ca.signer, digests)
	if err != nil {
		t.Fatal(err)
	}
	return &peerfeed.Signature{KeyID: keyIDOf(ca.cert), Digests: digests, Value: value}
}

// keyIDOf is a CA's key id as the engine names it: colon-separated hex.
func keyIDOf(c *x509.Certificate) string {
	parts := make([]string, len(c.SubjectKeyId))
	for i, b := range c.SubjectKeyId {
		parts[i] = fmt.Sprintf("%02x", b)
	}
	return strings.Join(parts, ":")
}

// unsigned is der with its signature damaged: it parses and says what
// der says, but no key verifies it. A gateway admits it only when a
// signed answer vouches for its bytes, which shows that the certificate's
// own signature was not checked.
func unsigned(der []byte) []byte {
	out := slices.Clone(der)
	out[len(out)-1] ^= 0xff
	return out
}

// feedEntry is the feed entry of certificate der binding key.
func feedEntry(t testing.TB, der []byte, key wgtypes.Key) peerfeed.Peer {
	t.Helper()
	c, err := wgcert.Parse(der)
	if err != nil {
		t.Fatal(err)
	}
	return peerfeed.Peer{SerialNumber: c.SerialNumber.Text(16), PublicKey: key.String(), Certificate: wgcert.EncodePEM(der)}
}

// asDER is entry as the engine sends it to a read with
// certificate_format=der: its certificate as DER instead of PEM, no
// addresses and no expiration.
func asDER(t testing.TB, entry peerfeed.Peer) peerfeed.Peer {
	t.Helper()
	c, err := wgcert.ParsePEM([]byte(entry.Certificate))
	if err != nil {
		t.Fatal(err)
	}
	return peerfeed.Peer{SerialNumber: entry.SerialNumber, PublicKey: entry.PublicKey, CertificateDER: c.X509.Raw}
}

// TestSignedAnswerVouchesOnlyForWhatItSigned: a signed answer spares the
// check of a certificate's own signature only for the certificate whose
// bytes a trusted CA signed at that position of the answer and that the
// same CA issued; every other entry is verified as in an unsigned answer;
// the same whether the entries carry their certificates as PEM or as DER.
// The entries whose own signature is damaged (unsigned) show which path
// each entry took: admitted only when vouched for.
// refusedSignatures are the cases of TestSignedAnswerVouchesOnlyForWhatItSigned
// whose signature is checked and found to be no trusted CA's.
var refusedSignatures = map[string]int{
	"tampered signature": 1, "tampered digest": 1, "signed by an untrusted CA naming the trusted one": 1,
	"signed by an untrusted CA": 1, "signed by the impostor": 1, "naming another trusted CA than the one that signed": 1,
}

func TestSignedAnswerVouchesOnlyForWhatItSigned(t *testing.T) {
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	ca := newSigningCA(t, now, "ed25519", "Test CA")
	ecCA := newSigningCA(t, now, "ec", "EC CA")
	otherCA := newSigningCA(t, now, "ed25519", "Other CA")
	stranger := newSigningCA(t, now, "ed25519", "Stranger CA")
	impostor := impostorOf(t, now, ca)
	pools := []netip.Prefix{netip.MustParsePrefix("10.77.0.0/16")}
	v := &Verifier{Roots: []*x509.Certificate{ca.cert, ecCA.cert, otherCA.cert}, Gateway: "gw1"}

	good0, k0 := ca.issue(t, now, "10.77.0.2")
	good1, k1 := ca.issue(t, now, "10.77.0.3")
	broken, kb := ca.issue(t, now, "10.77.0.4")
	broken = unsigned(broken)
	forged, kf := impostor.issue(t, now, "10.77.0.5")
	ecBroken, kec := ecCA.issue(t, now, "10.77.0.6")
	ecBroken = unsigned(ecBroken)
	otherGood, ko := otherCA.issue(t, now, "10.77.0.7")
	otherBroken, kob := otherCA.issue(t, now, "10.77.0.8")
	otherBroken = unsigned(otherBroken)

	type item struct {
		der []byte
		key wgtypes.Key
	}
	g0, g1, br := item{good0, k0}, item{good1, k1}, item{broken, kb}
	tamper := func(s *peerfeed.Signature, edit func(*peerfeed.Signature)) *peerfeed.Signature {
		c := &peerfeed.Signature{KeyID: s.KeyID, Digests: slices.Clone(s.Digests), Value: slices.Clone(s.Value)}
		edit(c)
		return c
	}
	signed := ca.signAnswer(t, good0, broken, good1)
	for _, tt := range []struct {
		name    string
		entries []item
		sig     *peerfeed.Signature
		want    []string // "" admitted, else the rejection's reason
	}{
		{"vouched for", []item{g0, br, g1}, signed, []string{"", "", ""}},
		{"vouched for by an ECDSA CA", []item{{ecBroken, kec}, g0}, ecCA.signAnswer(t, ecBroken, nil), []string{"", ""}},
		{"unsigned", []item{g0, br, g1}, nil, []string{"", "authority", ""}},
		{"an entry replaced by a forgery naming the CA", []item{g0, {forged, kf}, g1},
			ca.signAnswer(t, good0, broken, good1), []string{"", "authority", ""}},
		{"a listed forgery of another trusted CA's certificate", []item{g0, {otherBroken, kob}, {otherGood, ko}},
			ca.signAnswer(t, good0, otherBroken, otherGood), []string{"", "authority", ""}},
		{"tampered signature", []item{g0, br, g1},
			tamper(signed, func(s *peerfeed.Signature) { s.Value[0] ^= 1 }), []string{"", "authority", ""}},
		{"tampered digest", []item{g0, br, g1},
			tamper(signed, func(s *peerfeed.Signature) { s.Digests[len(s.Digests)-1] ^= 1 }), []string{"", "authority", ""}},
		{"signed by an untrusted CA naming the trusted one", []item{g0, br, g1},
			tamper(stranger.signAnswer(t, good0, broken, good1), func(s *peerfeed.Signature) { s.KeyID = keyIDOf(ca.cert) }),
			[]string{"", "authority", ""}},
		{"signed by an untrusted CA", []item{g0, br, g1}, stranger.signAnswer(t, good0, broken, good1), []string{"", "authority", ""}},
		{"signed by the impostor", []item{g0, br, {forged, kf}}, impostor.signAnswer(t, good0, broken, forged),
			[]string{"", "authority", "authority"}},
		{"naming another trusted CA than the one that signed", []item{g0, br, g1},
			tamper(signed, func(s *peerfeed.Signature) { s.KeyID = keyIDOf(otherCA.cert) }), []string{"", "authority", ""}},
		{"reordered", []item{br, g0, g1}, signed, []string{"authority", "", ""}},
		{"shifted by an inserted entry", []item{{forged, kf}, g0, br, g1}, signed, []string{"authority", "", "authority", ""}},
		{"zeros for the entry", []item{g0, br, g1}, ca.signAnswer(t, good0, nil, good1), []string{"", "authority", ""}},
		{"fewer digests than entries", []item{g0, g1, br}, ca.signAnswer(t, good0, good1), []string{"", "", "authority"}},
	} {
		for _, format := range []string{peerfeed.CertificatePEM, peerfeed.CertificateDER} {
			t.Run(tt.name+"/"+format, func(t *testing.T) {
				entries := make([]peerfeed.Peer, len(tt.entries))
				for i, it := range tt.entries {
					entries[i] = feedEntry(t, it.der, it.key)
					if format == peerfeed.CertificateDER {
						entries[i] = asDER(t, entries[i])
					}
				}
				refused := 0
				_, rejections := v.verifyAnswer(now, entries, pools, newSignedAnswer(tt.sig, func(*peerfeed.Signature) { refused++ }))
				got := make([]string, len(rejections))
				for i, r := range rejections {
					if r != nil {
						got[i] = r.Reason
					}
				}
				if !slices.Equal(got, tt.want) {
					t.Fatalf("rejections %q, want %q", got, tt.want)
				}
				// The answers whose signature was checked and is no
				// trusted CA's are reported, once each.
				if want := refusedSignatures[tt.name]; refused != want {
					t.Errorf("signature reported refused %d times, want %d", refused, want)
				}
			})
		}
	}
}

// TestSignedPagesVouchAcrossBatches: a full read's signed pages vouch for
// their entries at their positions in the page, across the batches the
// verifiers take (verifyBatch entries each); a signed delta too. An entry
// inserted into a page, as an attacker between Vault and the gateway
// could, shifts the entries after it: they are verified one by one, the
// genuine ones admitted, the forgery and the damaged ones not.
// TestEntryCertificateAsPEMOrDER: an entry's certificate is read from
// certificate_der or from certificate, whichever it carries; an entry
// that carries both, even of one certificate, is rejected: no reader may
// take one where another takes the other.
func TestEntryCertificateAsPEMOrDER(t *testing.T) {
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	ca := newSigningCA(t, now, "ed25519", "Test CA")
	pools := []netip.Prefix{netip.MustParsePrefix("10.77.0.0/16")}
	v := &Verifier{Roots: []*x509.Certificate{ca.cert}, Gateway: "gw1"}
	der, key := ca.issue(t, now, "10.77.0.2")
	other, _ := ca.issue(t, now, "10.77.0.3")
	pemEntry := feedEntry(t, der, key)
	derEntry := asDER(t, pemEntry)
	both := pemEntry
	both.CertificateDER = der
	bothOther := derEntry
	bothOther.Certificate = wgcert.EncodePEM(other)
	none := pemEntry
	none.Certificate = ""
	for _, tt := range []struct {
		name  string
		entry peerfeed.Peer
		err   error // nil: admitted
	}{
		{"PEM", pemEntry, nil},
		{"DER", derEntry, nil},
		{"both, of one certificate", both, ErrTwoCertificates},
		{"both, of two certificates", bothOther, ErrTwoCertificates},
		{"neither", none, wgcert.ErrNoCertificate},
	} {
		t.Run(tt.name, func(t *testing.T) {
			peer, rej := v.Verify(now, tt.entry, pools)
			if tt.err == nil {
				if rej != nil {
					t.Fatalf("rejected: %v", rej)
				}
				if peer.Key != key || len(peer.AllowedIPs) != 1 || peer.AllowedIPs[0] != netip.MustParsePrefix("10.77.0.2/32") {
					t.Fatalf("peer %v %v, want %v 10.77.0.2/32", peer.Key, peer.AllowedIPs, key)
				}
				return
			}
			if rej == nil || rej.Reason != "parse" || !errors.Is(rej.Err, tt.err) {
				t.Fatalf("rejection %v, want parse: %v", rej, tt.err)
			}
		})
	}
}

func TestSignedPagesVouchAcrossBatches(t *testing.T) {
	f := newDaemonFixture(t, false, Interface{})
	ca := newSigningCA(t, f.now, "ed25519", "Test CA")
	impostor := impostorOf(t, f.now, ca)
	// The daemon trusts ca alone (it reads its -ca-file as it starts).
	if err := os.WriteFile(f.d.cfg.CAFile, []byte(wgcert.EncodePEM(ca.cert.Raw)), 0o600); err != nil {
		t.Fatal(err)
	}
	n := verifyBatch*2 + 44
	damaged := map[int]bool{0: true, 1: true, verifyBatch - 1: true, verifyBatch: true, n - 1: true}
	type item struct {
		entry   peerfeed.Peer
		der     []byte
		key     wgtypes.Key
		damaged bool
	}
	items := make([]item, n)
	for i := range items {
		der, k := ca.issue(t, f.now, fmt.Sprintf("10.77.%d.%d", 1+i/200, 2+i%200))
		if damaged[i] {
			der = unsigned(der)
		}
		items[i] = item{feedEntry(t, der, k), der, k, damaged[i]}
	}
	// In serial order, as the engine sends a page; the damaged ones
	// are then wherever their serials put them.
	slices.SortFunc(items, func(a, b item) int { return strings.Compare(a.entry.SerialNumber, b.entry.SerialNumber) })
	entries, ders, keys := make([]peerfeed.Peer, n), make([][]byte, n), make([]wgtypes.Key, n)
	var genuine []wgtypes.Key
	for i, it := range items {
		entries[i], ders[i], keys[i] = it.entry, it.der, it.key
		if !it.damaged {
			genuine = append(genuine, it.key)
		}
	}
	pool := []string{"10.77.0.0/16"}
	sig := ca.signAnswer(t, ders...)
	first := &peerfeed.Response{Index: 5, Full: true, AddressPool: pool, Signature: sig, Peers: entries}
	f.v.answerAsIs(first, nil)
	f.run(t)
	waitDevice(t, f.dev, keys...)

	// A delta adding a damaged certificate, signed.
	der, k := ca.issue(t, f.now, "10.77.9.2")
	der = unsigned(der)
	f.v.waitFor(t, "the changes asked for", func() bool { return f.v.askedFor(5, 0) })
	f.v.answerAsIs(&peerfeed.Response{Index: 6, AddressPool: pool, Signature: ca.signAnswer(t, der),
		Peers: []peerfeed.Peer{feedEntry(t, der, k)}}, nil)
	waitDevice(t, f.dev, append(slices.Clone(keys), k)...)

	// The same page with a forgery inserted ahead of the rest.
	forgedDER, forgedKey := impostor.issue(t, f.now, "10.77.9.3")
	forged := feedEntry(t, forgedDER, forgedKey)
	forged.SerialNumber = "00" // first in serial order
	f.v.waitFor(t, "the changes since 6 asked for", func() bool { return f.v.askedFor(6, 0) })
	f.v.answerAsIs(&peerfeed.Response{Index: 7, Full: true, AddressPool: pool, Signature: sig,
		Peers: append([]peerfeed.Peer{forged}, entries...)}, nil)
	waitDevice(t, f.dev, genuine...)
}

package backend

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
	"github.com/stretchr/testify/require"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/wgcert"
)

// caPEM returns the certificates of ca/pem, in order.
func (e *testEnv) caPEM() []*x509.Certificate {
	e.t.Helper()
	resp := e.ok(logical.ReadOperation, "ca/pem", nil)
	require.Equal(e.t, http.StatusOK, resp.Data[logical.HTTPStatusCode])
	certs, err := wgcert.ParseCertificatesPEM(resp.Data[logical.HTTPRawBody].([]byte))
	require.NoError(e.t, err)
	return certs
}

// currentCA returns the mount's current CA certificate, as ca shows it.
func (e *testEnv) currentCA() *x509.Certificate {
	e.t.Helper()
	resp := e.ok(logical.ReadOperation, "ca", nil)
	c, err := wgcert.ParseCertificatesPEM([]byte(resp.Data["certificate"].(string)))
	require.NoError(e.t, err)
	require.Len(e.t, c, 1)
	return c[0]
}

// crlsPEM returns the CRLs of crl/pem, in order.
func (e *testEnv) crlsPEM() []*x509.RevocationList {
	e.t.Helper()
	resp := e.ok(logical.ReadOperation, "crl/pem", nil)
	require.Equal(e.t, http.StatusOK, resp.Data[logical.HTTPStatusCode])
	var out []*x509.RevocationList
	for rest := resp.Data[logical.HTTPRawBody].([]byte); ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		require.Equal(e.t, "X509 CRL", block.Type)
		crl, err := x509.ParseRevocationList(block.Bytes)
		require.NoError(e.t, err)
		out = append(out, crl)
	}
	return out
}

// leafOf parses the certificate of an issue response.
func leafOf(t *testing.T, resp *logical.Response) *x509.Certificate {
	t.Helper()
	c, err := wgcert.ParsePEM([]byte(resp.Data["certificate"].(string)))
	require.NoError(t, err)
	return c.X509
}

// selfSigned reports whether c's signature verifies with its own key.
func selfSigned(c *x509.Certificate) bool {
	return c.CheckSignatureFrom(c) == nil
}

// gatewayTrusts applies the trust rule agreed with the gateway to a ca/pem
// bundle: a self-signed CA is trusted when its SPKI is a pinned root's, or
// when the bundle holds a CA certificate that is not self-signed, has the
// candidate's subject and SPKI, verifies against a pinned root and is valid
// at now. It returns the trusted self-signed CAs.
func gatewayTrusts(bundle, pinned []*x509.Certificate, now time.Time) []*x509.Certificate {
	var out []*x509.Certificate
	for _, cand := range bundle {
		if !cand.IsCA || !selfSigned(cand) {
			continue
		}
		trusted := false
		for _, p := range pinned {
			if bytes.Equal(p.RawSubjectPublicKeyInfo, cand.RawSubjectPublicKeyInfo) {
				trusted = true
			}
		}
		for _, x := range bundle {
			if trusted {
				break
			}
			if !x.IsCA || selfSigned(x) || !bytes.Equal(x.RawSubject, cand.RawSubject) ||
				!bytes.Equal(x.RawSubjectPublicKeyInfo, cand.RawSubjectPublicKeyInfo) ||
				now.Before(x.NotBefore) || now.After(x.NotAfter) {
				continue
			}
			for _, p := range pinned {
				if x.CheckSignatureFrom(p) == nil {
					trusted = true
				}
			}
		}
		if trusted {
			out = append(out, cand)
		}
	}
	return out
}

// TestCARotationCrossSigns: rotating the CA serves, besides the new
// self-signed CA and the old one, the new CA cross-signed by the old, so
// that a gateway that pinned the old CA can accept the new one.
func TestCARotationCrossSigns(t *testing.T) {
	for _, tc := range []struct{ name, secondCN string }{
		{"new name", "Second CA"},
		{"same name", "Test CA"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := newTestEnv(t)
			first := env.currentCA()
			env.ok(logical.UpdateOperation, "config/ca", map[string]any{"key_type": "ec", "common_name": tc.secondCN})
			second := env.currentCA()

			certs := env.caPEM()
			require.Len(t, certs, 3, "current, cross-signed, previous")
			require.Equal(t, second.Raw, certs[0].Raw, "the current CA comes first")
			require.True(t, selfSigned(certs[0]))
			require.Equal(t, first.Raw, certs[2].Raw, "the previous CA is kept")

			cross := certs[1]
			require.False(t, selfSigned(cross))
			require.Equal(t, second.RawSubject, cross.RawSubject)
			require.Equal(t, second.RawSubjectPublicKeyInfo, cross.RawSubjectPublicKeyInfo)
			require.Equal(t, second.SubjectKeyId, cross.SubjectKeyId)
			require.True(t, cross.BasicConstraintsValid)
			require.True(t, cross.IsCA)
			require.Equal(t, first.RawSubject, cross.RawIssuer)
			require.Equal(t, first.SubjectKeyId, cross.AuthorityKeyId)
			require.NoError(t, cross.CheckSignatureFrom(first))
			require.False(t, cross.NotAfter.After(first.NotAfter))
			require.NotEqual(t, 0, cross.SerialNumber.Cmp(second.SerialNumber))

			// The JSON shows the same.
			ca := env.ok(logical.ReadOperation, "ca", nil)
			require.Equal(t, []string{wgcert.EncodePEM(cross.Raw)}, ca.Data["cross_signed"])
			require.Equal(t, string(env.ok(logical.ReadOperation, "ca/pem", nil).Data[logical.HTTPRawBody].([]byte)), ca.Data["ca_chain"])

			// A gateway that pinned the first CA trusts the second; one
			// that pinned a stranger trusts neither.
			now := time.Now()
			require.Equal(t, []*x509.Certificate{second, first}, gatewayTrusts(certs, []*x509.Certificate{first}, now))
			stranger := newStrangerCA(t)
			require.Empty(t, gatewayTrusts(certs, []*x509.Certificate{stranger}, now))

			// Leaves of the new CA verify through the cross-signature.
			leaf := leafOf(t, env.issue("alice"))
			require.NoError(t, leaf.CheckSignatureFrom(cross))
			roots := x509.NewCertPool()
			roots.AddCert(first)
			inter := x509.NewCertPool()
			inter.AddCert(cross)
			_, err := cross.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter})
			require.NoError(t, err)

			// A third CA is cross-signed by both kept CAs, so a gateway
			// that pinned only the first one trusts it directly.
			env.ok(logical.UpdateOperation, "config/ca", map[string]any{"common_name": "Third CA"})
			third := env.currentCA()
			certs = env.caPEM()
			require.Len(t, certs, 1+3+2, "current, three cross-signed, two previous")
			require.Equal(t, []*x509.Certificate{third, second, first}, gatewayTrusts(certs, []*x509.Certificate{first}, now))
			require.Equal(t, []*x509.Certificate{third, second}, gatewayTrusts(certs, []*x509.Certificate{second}, now))
		})
	}
}

// newStrangerCA is a CA of nobody's mount.
func newStrangerCA(t *testing.T) *x509.Certificate {
	t.Helper()
	der, _, err := wgcert.GenerateCA("ed25519", "Test CA", time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	require.NoError(t, err)
	c, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return c
}

// TestCrossSignedWithinOldCA: the cross-signature ends when the old CA
// ends, even when the new CA lives longer.
func TestCrossSignedWithinOldCA(t *testing.T) {
	env := newTestEnv(t)
	env.ok(logical.UpdateOperation, "config/ca", map[string]any{"common_name": "Short CA", "ttl": "2h"})
	short := env.currentCA()
	env.ok(logical.UpdateOperation, "config/ca", map[string]any{"common_name": "Long CA", "ttl": "87600h"})
	long := env.currentCA()
	var cross []*x509.Certificate
	for _, c := range env.caPEM() {
		if !selfSigned(c) && bytes.Equal(c.RawSubjectPublicKeyInfo, long.RawSubjectPublicKeyInfo) && c.CheckSignatureFrom(short) == nil {
			cross = append(cross, c)
		}
	}
	require.Len(t, cross, 1)
	require.True(t, cross[0].NotAfter.Equal(short.NotAfter), "cross NotAfter %s, old CA's %s", cross[0].NotAfter, short.NotAfter)
}

// TestIssueWithinCALifetime: no certificate outlives its CA. Without a ttl
// the lifetime is capped at the CA's NotAfter; an explicit ttl beyond it is
// refused, naming ttl; a CA that has expired issues nothing.
func TestIssueWithinCALifetime(t *testing.T) {
	env := newTestEnv(t)
	env.ok(logical.UpdateOperation, "config/ca", map[string]any{"ttl": "2h"})
	ca := env.currentCA()

	resp := env.issue("alice") // the role's ttl is 8h
	leaf := leafOf(t, resp)
	require.True(t, leaf.NotAfter.Equal(ca.NotAfter), "leaf NotAfter %s, CA's %s", leaf.NotAfter, ca.NotAfter)
	require.Equal(t, ca.NotAfter.Unix(), resp.Data["expiration"])
	require.LessOrEqual(t, resp.Secret.TTL, 2*time.Hour)
	require.Greater(t, resp.Secret.TTL, 2*time.Hour-2*time.Minute)

	env.fails(logical.UpdateOperation, "issue/laptop", map[string]any{"public_key": mustKey(t), "ttl": "3h"},
		"ttl: 3h0m0s would outlive the CA, which expires at "+ca.NotAfter.UTC().Format(time.RFC3339))
	resp = env.ok(logical.UpdateOperation, "issue/laptop", map[string]any{"public_key": mustKey(t), "ttl": "1h"})
	require.InDelta(t, float64(time.Hour), float64(resp.Secret.TTL), float64(time.Second), "the lease is what is left of the certificate")

	env.b.clock.set(func() time.Time { return time.Now().Add(3 * time.Hour) })
	env.fails(logical.UpdateOperation, "issue/laptop", map[string]any{"public_key": mustKey(t)},
		"ttl: the CA expired at "+ca.NotAfter.UTC().Format(time.RFC3339))
}

// TestImportRefusals: an expired CA cannot be imported, nor a CA with the
// key of a kept one (it would share its key id and its CRL).
func TestImportRefusals(t *testing.T) {
	env := newTestEnv(t)
	now := time.Now()
	certDER, keyDER, err := wgcert.GenerateCA("ed25519", "Old CA", now.Add(-2*time.Hour), now.Add(-time.Hour))
	require.NoError(t, err)
	bundle := wgcert.EncodePEM(certDER) + string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
	env.fails(logical.UpdateOperation, "config/ca", map[string]any{"pem_bundle": bundle}, "pem_bundle: the CA expired at ")
	require.Equal(t, "Test CA", env.currentCA().Subject.CommonName, "nothing changed")

	certDER, keyDER, err = wgcert.GenerateCA("ed25519", "Imported CA", now.Add(-time.Hour), now.Add(time.Hour))
	require.NoError(t, err)
	bundle = wgcert.EncodePEM(certDER) + string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
	env.ok(logical.UpdateOperation, "config/ca", map[string]any{"pem_bundle": bundle})
	env.ok(logical.UpdateOperation, "config/ca", map[string]any{"common_name": "Next CA"})
	env.fails(logical.UpdateOperation, "config/ca", map[string]any{"pem_bundle": bundle},
		"pem_bundle: the key is already the key of a kept CA")
	require.Equal(t, "Next CA", env.currentCA().Subject.CommonName, "nothing changed")
	require.Len(t, env.caPEM(), 1+3+2)
}

// TestCRLPerCA: after a rotation each CA signs its own CRL listing its own
// revoked serials; crl/pem serves both, crl the current CA's.
func TestCRLPerCA(t *testing.T) {
	env := newTestEnv(t)
	first := env.currentCA()
	before := env.issue("alice")
	env.ok(logical.UpdateOperation, "config/ca", map[string]any{"common_name": "Second CA"})
	second := env.currentCA()
	after := env.issue("bob")
	env.issue("carol") // live, on no CRL
	env.revokeLease(before)
	env.revokeLease(after)

	crls := env.crlsPEM()
	require.Len(t, crls, 2)
	require.NoError(t, crls[0].CheckSignatureFrom(second))
	require.Equal(t, []string{after.Data["serial_number"].(string)}, crlSerialList(crls[0]))
	require.NoError(t, crls[1].CheckSignatureFrom(first))
	require.Equal(t, []string{before.Data["serial_number"].(string)}, crlSerialList(crls[1]))

	der := env.ok(logical.ReadOperation, "crl", nil).Data[logical.HTTPRawBody].([]byte)
	require.Equal(t, crls[0].Raw, der, "crl is the current CA's CRL")

	// The records say which CA issued them.
	rec := env.ok(logical.ReadOperation, "cert/"+before.Data["serial_number"].(string), nil)
	require.Equal(t, formatKeyID(first.SubjectKeyId), rec.Data["issuer_key_id"])
}

func crlSerialList(crl *x509.RevocationList) []string {
	var out []string
	for _, e := range crl.RevokedCertificateEntries {
		out = append(out, formatSerial(e.SerialNumber))
	}
	return out
}

// TestCRLOpenSSLBothCAs: openssl verify -crl_check with ca/pem and crl/pem
// says "certificate revoked" for revoked certificates of the old and the
// new CA, and OK for live ones of both.
func TestCRLOpenSSLBothCAs(t *testing.T) {
	bin := opensslBin(t)
	for _, tc := range []struct{ name, secondCN string }{
		{"new name", "Second CA"},
		{"same name", "Test CA"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := newTestEnv(t)
			oldRevoked, oldLive := env.issue("alice"), env.issue("bob")
			env.ok(logical.UpdateOperation, "config/ca", map[string]any{"key_type": "ec", "common_name": tc.secondCN})
			newRevoked, newLive := env.issue("carol"), env.issue("dave")
			env.revokeLease(oldRevoked)
			env.revokeLease(newRevoked)

			dir := t.TempDir()
			write := func(name string, data []byte) string {
				p := filepath.Join(dir, name)
				require.NoError(t, os.WriteFile(p, data, 0o600))
				return p
			}
			bundle := write("ca.pem", env.ok(logical.ReadOperation, "ca/pem", nil).Data[logical.HTTPRawBody].([]byte))
			crls := write("crls.pem", env.ok(logical.ReadOperation, "crl/pem", nil).Data[logical.HTTPRawBody].([]byte))
			verify := func(resp *logical.Response) (string, error) {
				leaf := write(resp.Data["serial_number"].(string)+".pem", []byte(resp.Data["certificate"].(string)))
				out, err := exec.Command(bin, "verify", "-crl_check", "-CAfile", bundle, "-CRLfile", crls, leaf).CombinedOutput()
				return string(out), err
			}
			for _, r := range []*logical.Response{oldRevoked, newRevoked} {
				out, err := verify(r)
				require.Error(t, err, out)
				require.Contains(t, out, "certificate revoked", "serial %s", r.Data["serial_number"])
			}
			for _, r := range []*logical.Response{oldLive, newLive} {
				out, err := verify(r)
				require.NoError(t, err, out)
				require.Contains(t, out, ": OK")
			}
		})
	}
}

// opensslBin returns the openssl binary, skipping (or failing under
// WG_REQUIRE_ALL) without one.
func opensslBin(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("openssl")
	if err != nil {
		if os.Getenv("WG_REQUIRE_ALL") != "" {
			t.Fatalf("openssl is not on PATH and WG_REQUIRE_ALL is set: %v", err)
		}
		t.Skip("openssl is not on PATH; set WG_REQUIRE_ALL=1 to make this a failure")
	}
	return path
}

// TestCAIssuersExpiration: ca lists every kept CA with its expiry.
func TestCAIssuersExpiration(t *testing.T) {
	env := newTestEnv(t)
	first := env.currentCA()
	env.ok(logical.UpdateOperation, "config/ca", map[string]any{"common_name": "Second CA", "ttl": "48h"})
	second := env.currentCA()
	resp := env.ok(logical.ReadOperation, "ca", nil)
	issuers := resp.Data["issuers"].([]map[string]any)
	require.Len(t, issuers, 2)
	for i, want := range []*x509.Certificate{second, first} {
		got := issuers[i]
		require.Equal(t, formatKeyID(want.SubjectKeyId), got["key_id"])
		require.Equal(t, formatSerial(want.SerialNumber), got["serial_number"])
		require.Equal(t, want.Subject.CommonName, got["common_name"])
		require.Equal(t, want.NotAfter.Unix(), got["expiration"])
		require.Equal(t, want.NotAfter.UTC().Format(time.RFC3339), got["not_after"])
		require.Equal(t, i == 0, got["current"])
	}
}

// TestDropPreviousCA: an operator drops a previous CA once no live
// certificate chains to it; then it leaves ca/pem, its cross-signatures and
// its CRL go too.
func TestDropPreviousCA(t *testing.T) {
	env := newTestEnv(t)
	first := env.currentCA()
	old := env.issue("alice")
	expiring := env.ok(logical.UpdateOperation, "issue/laptop", map[string]any{"public_key": mustKey(t), "ttl": "1h"})
	env.ok(logical.UpdateOperation, "config/ca", map[string]any{"common_name": "Second CA"})
	second := env.currentCA()
	firstID, secondID := formatKeyID(first.SubjectKeyId), formatKeyID(second.SubjectKeyId)

	list := env.ok(logical.ListOperation, "config/ca/previous/", nil)
	require.Equal(t, []string{firstID}, list.Data["keys"])
	read := env.ok(logical.ReadOperation, "config/ca/previous/"+firstID, nil)
	require.Equal(t, 2, read.Data["live_certificates"])
	require.Equal(t, first.NotAfter.Unix(), read.Data["expiration"])

	env.fails(logical.DeleteOperation, "config/ca/previous/"+firstID, nil,
		"issuer_ref: CA "+firstID+" still has 2 live certificates")
	env.fails(logical.DeleteOperation, "config/ca/previous/"+secondID, nil,
		"issuer_ref: "+secondID+" is the current CA")
	env.fails(logical.DeleteOperation, "config/ca/previous/00:11", nil, `issuer_ref: no previous CA "00:11"`)
	require.Len(t, env.caPEM(), 3, "a refused delete changes nothing")

	env.revokeLease(old)
	env.fails(logical.DeleteOperation, "config/ca/previous/"+firstID, nil, "still has 1 live certificates")
	// An expired certificate no longer holds the CA.
	env.b.clock.set(func() time.Time { return time.Now().Add(2 * time.Hour) })
	_ = expiring
	// By serial number, as well as by key id.
	env.ok(logical.DeleteOperation, "config/ca/previous/"+formatSerial(first.SerialNumber), nil)

	certs := env.caPEM()
	require.Len(t, certs, 1)
	require.Equal(t, second.Raw, certs[0].Raw)
	require.Len(t, env.crlsPEM(), 1)
	require.Empty(t, env.ok(logical.ReadOperation, "ca", nil).Data["cross_signed"])
	list = env.ok(logical.ListOperation, "config/ca/previous/", nil)
	require.Empty(t, list.Data["keys"])

	// It stays dropped after a reload from storage.
	env.b.invalidate(t.Context(), caStorageKey)
	require.Len(t, env.caPEM(), 1)
}

// TestLegacyRecordsAndCA: records written before they named their CA
// belong to the CA whose key id is their authority key id, and a stored CA
// from before rotation kept keys still loads, its previous CAs dropable.
func TestLegacyRecordsAndCA(t *testing.T) {
	env := newTestEnv(t)
	first := env.currentCA()
	legacy := env.issue("alice")
	serial := legacy.Data["serial_number"].(string)

	// Strip issuer_key_id from the stored record and reload the registry.
	entry, err := env.storage.Get(t.Context(), certStoragePrefix+serial)
	require.NoError(t, err)
	var raw map[string]any
	require.NoError(t, json.Unmarshal(entry.Value, &raw))
	delete(raw, "issuer_key_id")
	buf, err := json.Marshal(raw)
	require.NoError(t, err)
	require.NoError(t, env.storage.Put(t.Context(), &logical.StorageEntry{Key: entry.Key, Value: buf}))
	env.b.invalidate(t.Context(), certStoragePrefix+serial)

	env.ok(logical.UpdateOperation, "config/ca", map[string]any{"common_name": "Second CA"})
	env.revokeLease(legacy)
	crls := env.crlsPEM()
	require.Len(t, crls, 2)
	require.Empty(t, crlSerialList(crls[0]))
	require.Equal(t, []string{serial}, crlSerialList(crls[1]))
	require.NoError(t, crls[1].CheckSignatureFrom(first))

	// A stored CA of the old layout: previous certificates without keys.
	third, thirdKey, err := wgcert.GenerateCA("ed25519", "Third CA", time.Now().Add(-time.Minute), time.Now().Add(time.Hour))
	require.NoError(t, err)
	old := map[string]any{
		"certificate": wgcert.EncodePEM(third),
		"private_key": string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: thirdKey})),
		"previous":    []string{wgcert.EncodePEM(first.Raw)},
	}
	buf, err = json.Marshal(old)
	require.NoError(t, err)
	require.NoError(t, env.storage.Put(t.Context(), &logical.StorageEntry{Key: caStorageKey, Value: buf}))
	env.b.invalidate(t.Context(), caStorageKey)
	certs := env.caPEM()
	require.Len(t, certs, 2)
	require.Equal(t, "Third CA", certs[0].Subject.CommonName)
	require.Equal(t, first.Raw, certs[1].Raw)
	require.Len(t, env.crlsPEM(), 1, "no key, no CRL for the old previous CA")
	env.ok(logical.DeleteOperation, "config/ca/previous/"+formatKeyID(first.SubjectKeyId), nil)
	require.Len(t, env.caPEM(), 1)
}

// TestFormatKeyID pins the key id format: colon-separated lowercase hex,
// leading zeros kept.
func TestFormatKeyID(t *testing.T) {
	require.Equal(t, "00:0a:ff", formatKeyID([]byte{0, 10, 255}))
	require.Equal(t, "", formatKeyID(nil))
	require.Equal(t, "01", formatSerial(big.NewInt(1)))
	require.True(t, strings.HasPrefix(formatKeyID(bytes.Repeat([]byte{0xab}, 20)), "ab:ab"))
}

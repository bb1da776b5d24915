package wgcert

import (
	"encoding/hex"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestOpenSSL checks certificates the way a user would: openssl verifies
// them against the CA and shows the WireGuard key as an X25519 key.
func TestOpenSSL(t *testing.T) {
	bin := openssl(t)
	tests := []struct {
		name    string
		keyType string
		change  func(*Template)
		at      time.Time
	}{
		{name: "ed25519 CA", keyType: KeyTypeEd25519, at: testNow},
		{name: "ECDSA P-256 CA", keyType: KeyTypeEC, at: testNow},
		{name: "valid past 2050", keyType: KeyTypeEd25519, change: func(tm *Template) {
			tm.NotAfter = time.Date(2051, 1, 1, 0, 0, 0, 0, time.UTC)
		}, at: testNow},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ca := newCA(t, tt.keyType, "test CA")
			key := newKey(t)
			tmpl := newTemplate(t, key)
			if tt.change != nil {
				tt.change(tmpl)
			}
			c := issue(t, ca, tmpl)

			dir := t.TempDir()
			caPath := writeFile(t, dir, "ca.pem", []byte(EncodePEM(ca.Cert.Raw)))
			certPath := writeFile(t, dir, "cert.pem", []byte(EncodePEM(c.X509.Raw)))

			out := run(t, bin, "verify", "-x509_strict", "-attime", strconv.FormatInt(tt.at.Unix(), 10), "-CAfile", caPath, certPath)
			require.Contains(t, out, certPath+": OK")

			text := run(t, bin, "x509", "-in", certPath, "-text", "-noout")
			for _, want := range []string{
				"Version: 3 (0x2)",
				"X25519 Public-Key",
				"IP Address:10.77.0.2",
				"URI:urn:wireguard:gateway:gw1",
				"URI:urn:wireguard:gateway:gw-2.example",
				"X509v3 Key Usage: critical\n                Key Agreement",
				"X509v3 Basic Constraints: critical\n                CA:FALSE",
				"Subject: CN = alice@example.com",
				"Subject Key Identifier",
				"Authority Key Identifier",
			} {
				require.Contains(t, text, want)
			}
			require.Equal(t, hex.EncodeToString(key[:]), opensslPubHex(t, text))
		})
	}

	t.Run("expired certificate fails", func(t *testing.T) {
		ca := newCA(t, KeyTypeEd25519, "test CA")
		c := issue(t, ca, newTemplate(t, newKey(t)))
		dir := t.TempDir()
		caPath := writeFile(t, dir, "ca.pem", []byte(EncodePEM(ca.Cert.Raw)))
		certPath := writeFile(t, dir, "cert.pem", []byte(EncodePEM(c.X509.Raw)))
		at := strconv.FormatInt(c.NotAfter.Add(time.Hour).Unix(), 10)
		out, err := runErr(bin, "verify", "-attime", at, "-CAfile", caPath, certPath)
		require.Error(t, err)
		require.Contains(t, out, "certificate has expired")
	})

	t.Run("foreign CA fails", func(t *testing.T) {
		ca := newCA(t, KeyTypeEd25519, "test CA")
		foreign := newCA(t, KeyTypeEd25519, "test CA")
		c := issue(t, ca, newTemplate(t, newKey(t)))
		dir := t.TempDir()
		caPath := writeFile(t, dir, "ca.pem", []byte(EncodePEM(foreign.Cert.Raw)))
		certPath := writeFile(t, dir, "cert.pem", []byte(EncodePEM(c.X509.Raw)))
		out, err := runErr(bin, "verify", "-attime", strconv.FormatInt(testNow.Unix(), 10), "-CAfile", caPath, certPath)
		require.Error(t, err)
		require.NotContains(t, out, ": OK")
	})

	t.Run("new CA through its cross-signature", func(t *testing.T) {
		old := newCA(t, KeyTypeEd25519, "test CA")
		next := newCA(t, KeyTypeEC, "test CA") // the same name, as after a rotation with defaults
		crossDER, err := CrossSign(next.Cert, old.Cert, old.Signer)
		require.NoError(t, err)
		c := issue(t, next, newTemplate(t, newKey(t)))
		dir := t.TempDir()
		oldPath := writeFile(t, dir, "old.pem", []byte(EncodePEM(old.Cert.Raw)))
		crossPath := writeFile(t, dir, "cross.pem", []byte(EncodePEM(crossDER)))
		certPath := writeFile(t, dir, "cert.pem", []byte(EncodePEM(c.X509.Raw)))
		at := strconv.FormatInt(testNow.Unix(), 10)
		out := run(t, bin, "verify", "-x509_strict", "-attime", at, "-CAfile", oldPath, "-untrusted", crossPath, certPath)
		require.Contains(t, out, certPath+": OK")
		out, err = runErr(bin, "verify", "-attime", at, "-CAfile", oldPath, certPath)
		require.Error(t, err, "without the cross-signature the old CA alone does not vouch for the new one")
		require.NotContains(t, out, ": OK")
	})

	t.Run("IPv6 address", func(t *testing.T) {
		ca := newCA(t, KeyTypeEd25519, "test CA")
		tmpl := newTemplate(t, newKey(t))
		tmpl.Addresses = []netip.Addr{netip.MustParseAddr("fd77::2")}
		c := issue(t, ca, tmpl)
		certPath := writeFile(t, t.TempDir(), "cert.pem", []byte(EncodePEM(c.X509.Raw)))
		text := run(t, bin, "x509", "-in", certPath, "-text", "-noout")
		require.Regexp(t, `IP Address:FD77:(0:)+2\b`, text)
	})
}

// opensslPubHex returns the hex digits of the "pub:" block of
// `openssl x509 -text`.
func opensslPubHex(t *testing.T, text string) string {
	t.Helper()
	_, after, ok := strings.Cut(text, "pub:\n")
	require.True(t, ok, "no pub: in\n%s", text)
	hexLine := regexp.MustCompile(`^[0-9a-f:]+$`)
	var digits strings.Builder
	for _, line := range strings.Split(after, "\n") {
		line = strings.TrimSpace(line)
		if !hexLine.MatchString(line) {
			break
		}
		digits.WriteString(strings.ReplaceAll(line, ":", ""))
	}
	return digits.String()
}

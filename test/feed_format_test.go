package test

import (
	"encoding/json"
	"io"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/peerfeed"
	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/wgcert"
)

// TestFeedCertificateFormatOnRealVault reads a gateway's feed through a
// real Vault as a daemon before certificate_format does (PEM, exactly as
// before) and as today's asks (certificate_der, and no addresses or
// expiration beside it), whole, in pages and as a
// delta: Vault delivers the plugin's answers intact (they travel as a
// string through the SDK), the certificates are the same, and the
// signature verifies with the CA over either.
func TestFeedCertificateFormatOnRealVault(t *testing.T) {
	s := startVault(t)
	setUpEngine(t, s)
	for range 3 {
		_, err := s.root.Logical().Write("wg/issue/generated", nil)
		require.NoError(t, err)
	}
	caPEM, err := s.root.Logical().Read("wg/ca")
	require.NoError(t, err)
	ca, err := wgcert.ParseCertificatesPEM([]byte(caPEM.Data["certificate"].(string)))
	require.NoError(t, err)
	read := func(params map[string][]string) peerfeed.Response {
		t.Helper()
		resp, err := s.root.Logical().ReadRawWithData("wg/gateways/gw1/peers", params)
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		var env struct {
			Data peerfeed.Response `json:"data"`
		}
		require.NoError(t, json.Unmarshal(body, &env), "%s", body)
		return env.Data
	}
	// Each certificate's DER by serial, from the PEM answer.
	ders := map[string][]byte{}
	checkPEM := func(r peerfeed.Response, n int) {
		t.Helper()
		require.Len(t, r.Peers, n)
		for _, p := range r.Peers {
			require.Empty(t, p.CertificateDER)
			require.NotEmpty(t, p.AllowedIPs)
			require.False(t, p.Expiration.IsZero())
			c, err := wgcert.ParsePEM([]byte(p.Certificate))
			require.NoError(t, err)
			ders[p.SerialNumber] = c.X509.Raw
		}
	}
	checkDER := func(r peerfeed.Response, n int) {
		t.Helper()
		require.Len(t, r.Peers, n)
		digests := make([]byte, 0, n*wgcert.DigestSize)
		for _, p := range r.Peers {
			require.Empty(t, p.Certificate)
			require.Nil(t, p.AllowedIPs)
			require.True(t, p.Expiration.IsZero())
			require.Equal(t, ders[p.SerialNumber], p.CertificateDER, "peer %s", p.SerialNumber)
			d := wgcert.FeedDigest(p.CertificateDER)
			digests = append(digests, d[:]...)
		}
		require.NotNil(t, r.Signature)
		require.Equal(t, digests, r.Signature.Digests)
		require.NoError(t, wgcert.VerifyFeed(ca[0], r.Signature.Digests, r.Signature.Value))
	}
	full := read(nil)
	checkPEM(full, 3)
	checkDER(read(map[string][]string{"certificate_format": {"der"}}), 3)
	page := read(map[string][]string{"index": {"0"}, "limit": {"2"}, "certificate_format": {"der"}})
	checkDER(page, 2)
	checkPEM(read(map[string][]string{"index": {"0"}, "limit": {"2"}, "after": {page.Next}}), 1)
	checkDER(read(map[string][]string{"index": {"0"}, "limit": {"2"}, "after": {page.Next}, "certificate_format": {"der"}}), 1)

	_, err = s.root.Logical().Write("wg/issue/generated", nil)
	require.NoError(t, err)
	since := map[string][]string{"index": {strconv.FormatUint(full.Index, 10)}}
	checkPEM(read(since), 1)
	since["certificate_format"] = []string{"der"}
	checkDER(read(since), 1)
}

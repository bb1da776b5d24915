package device

import (
	"crypto/x509"
	"math/big"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/wgcert"
)

func TestFilesInstall(t *testing.T) {
	priv, gwPriv := mustKey(t), mustKey(t)
	l, err := ParseIssue(issueAnswer(priv.PublicKey(), gwPriv.PublicKey()), priv.PublicKey(), time.Now())
	require.NoError(t, err)
	dir := t.TempDir()
	conf := filepath.Join(dir, "wg0.conf")
	require.NoError(t, os.WriteFile(conf, []byte("old, world-readable"), 0o644))

	f := Files{Config: conf}
	old, err := f.Replaced()
	require.NoError(t, err)
	require.Nil(t, old, "no certificate there yet")
	g := &Grant{Lease: l, Private: priv, Token: "hvs.token", TokenEnd: time.Unix(1_900_000_000, 0).UTC()}
	require.NoError(t, f.Install(t.Context(), g))
	text, err := l.WGQuick(priv).Render()
	require.NoError(t, err)
	for path, want := range map[string]string{
		conf:                          text,
		filepath.Join(dir, "wg0.pem"): l.Certificate,
		filepath.Join(dir, "wg0.token"): `{
  "serial_number": "` + l.SerialNumber + `",
  "lease_id": "` + l.LeaseID + `",
  "expiration": "` + l.Expiration.Format(time.RFC3339) + `",
  "token": "hvs.token",
  "token_expiration": "2030-03-17T17:46:40Z"
}
`,
	} {
		st, err := os.Stat(path)
		require.NoError(t, err)
		require.Equal(t, os.FileMode(0o600), st.Mode().Perm(), path)
		got, err := os.ReadFile(path)
		require.NoError(t, err)
		require.Equal(t, want, string(got))
	}
	left, err := filepath.Glob(filepath.Join(dir, ".*"))
	require.NoError(t, err)
	require.Empty(t, left, "no temporary files left")

	// The next Install replaces that certificate; its token retires it.
	old, err = f.Replaced()
	require.NoError(t, err)
	require.Equal(t, &Grant{Lease: &Lease{SerialNumber: l.SerialNumber, LeaseID: l.LeaseID, Expiration: l.Expiration},
		Token: "hvs.token", TokenEnd: g.TokenEnd}, old)
	// Without the token file, the certificate still names what is replaced.
	require.NoError(t, os.Remove(filepath.Join(dir, "wg0.token")))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "wg0.pem"), []byte(realCertificate(t, priv.PublicKey())), 0o600))
	old, err = f.Replaced()
	require.NoError(t, err)
	require.Equal(t, &Grant{Lease: &Lease{SerialNumber: "46:70:ed:9e", Expiration: time.Unix(1_900_000_000, 0).UTC()}}, old)

	err = Files{Config: filepath.Join(dir, "missing", "wg0.conf")}.Install(t.Context(), &Grant{Lease: l, Private: priv})
	require.ErrorContains(t, err, "missing/wg0.pem")
}

// realCertificate is a certificate for public with serial 46:70:ed:9e
// that ends at unix time 1,900,000,000.
func realCertificate(t *testing.T, public wgtypes.Key) string {
	t.Helper()
	notAfter := time.Unix(1_900_000_000, 0).UTC()
	caDER, keyDER, err := wgcert.GenerateCA("ed25519", "Test CA", notAfter.Add(-time.Hour), notAfter)
	require.NoError(t, err)
	ca, err := x509.ParseCertificate(caDER)
	require.NoError(t, err)
	signer, err := wgcert.ParsePKCS8Signer(keyDER)
	require.NoError(t, err)
	der, err := wgcert.Create(&wgcert.Template{SerialNumber: big.NewInt(0x4670ed9e), CommonName: "laptop", PublicKey: public,
		Addresses: []netip.Addr{netip.MustParseAddr("10.77.0.2")}, Gateways: []string{"gw1"},
		NotBefore: notAfter.Add(-time.Minute), NotAfter: notAfter}, ca, signer)
	require.NoError(t, err)
	return wgcert.EncodePEM(der)
}

func TestFilesPrepare(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "etc", "wireguard", "wg0.conf")
	require.NoError(t, Files{Config: conf}.Prepare(t.Context()))
	st, err := os.Stat(filepath.Dir(conf))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o700), st.Mode().Perm(), "a directory it creates is 0700")
	left, err := os.ReadDir(filepath.Dir(conf))
	require.NoError(t, err)
	require.Empty(t, left, "Prepare leaves no file")

	plain := filepath.Join(dir, "plain")
	require.NoError(t, os.WriteFile(plain, nil, 0o600))
	require.ErrorContains(t, Files{Config: filepath.Join(plain, "wg0.conf")}.Prepare(t.Context()),
		"-config "+filepath.Join(plain, "wg0.conf")+": mkdir "+plain+": not a directory")
	require.EqualError(t, Files{Config: dir}.Prepare(t.Context()), "-config "+dir+": "+dir+" is a directory")
	require.NoError(t, os.Mkdir(filepath.Join(dir, "wg1.pem"), 0o700))
	require.EqualError(t, Files{Config: filepath.Join(dir, "wg1.conf")}.Prepare(t.Context()),
		"-config "+filepath.Join(dir, "wg1.conf")+": "+filepath.Join(dir, "wg1.pem")+" is a directory")
}

package test

import (
	"bytes"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	vault "github.com/hashicorp/vault/api"
	"github.com/stretchr/testify/require"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/wgcert"
)

// TestCARotationOnRealVault rotates the CA of a real Vault between issues
// and revokes a certificate of each CA: openssl, given ca/pem and crl/pem as
// served without a token, reports both as revoked and a live one of each
// CA as OK. ca/pem carries the new CA cross-signed by the old one, and the
// old CA can be dropped only once no live certificate chains to it.
func TestCARotationOnRealVault(t *testing.T) {
	_, err := exec.LookPath("openssl")
	need(t, err == nil, "openssl not on PATH")
	s := startVault(t)
	setUpEngine(t, s)
	issue := func() *vault.Secret {
		t.Helper()
		sec, err := s.root.Logical().Write("wg/issue/generated", nil)
		require.NoError(t, err)
		return sec
	}
	oldCA, err := wgcert.ParseCertificatesPEM(httpGet(t, s.addr+"/v1/wg/ca/pem"))
	require.NoError(t, err)
	oldID := colonHex(oldCA[0].SubjectKeyId)
	oldRevoked, oldLive := issue(), issue()

	// Rotate with the same name, the case where only key ids tell the CAs apart.
	s.cli("write", "wg/config/ca", "key_type=ec", "common_name=Example WireGuard CA")
	newRevoked, newLive := issue(), issue()
	s.cli("lease", "revoke", oldRevoked.LeaseID)
	s.cli("lease", "revoke", newRevoked.LeaseID)

	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, data, 0o600))
		return p
	}
	bundlePEM := httpGet(t, s.addr+"/v1/wg/ca/pem")
	bundle := write("ca.pem", bundlePEM)
	crls := write("crl.pem", httpGet(t, s.addr+"/v1/wg/crl/pem"))
	verify := func(sec *vault.Secret) (string, error) {
		leaf := write("leaf.pem", []byte(sec.Data["certificate"].(string)))
		out, err := exec.Command("openssl", "verify", "-crl_check", "-CAfile", bundle, "-CRLfile", crls, leaf).CombinedOutput()
		return string(out), err
	}
	for name, sec := range map[string]*vault.Secret{"old CA": oldRevoked, "new CA": newRevoked} {
		out, err := verify(sec)
		require.Error(t, err, "%s: %s", name, out)
		require.Contains(t, out, "certificate revoked", name)
	}
	for name, sec := range map[string]*vault.Secret{"old CA": oldLive, "new CA": newLive} {
		out, err := verify(sec)
		require.NoError(t, err, "%s: %s", name, out)
		require.Contains(t, out, ": OK", name)
	}

	// ca/pem: the new CA, the new CA signed by the old one, the old CA.
	certs, err := wgcert.ParseCertificatesPEM(bundlePEM)
	require.NoError(t, err)
	require.Len(t, certs, 3)
	require.True(t, wgcert.SelfSigned(certs[0]))
	require.False(t, wgcert.SelfSigned(certs[1]))
	require.True(t, bytes.Equal(certs[0].RawSubjectPublicKeyInfo, certs[1].RawSubjectPublicKeyInfo))
	require.NoError(t, certs[1].CheckSignatureFrom(certs[2]))
	require.True(t, wgcert.SelfSigned(certs[2]))

	// The old CA stays while its live certificate does.
	_, err = s.root.Logical().Delete("wg/config/ca/previous/" + oldID)
	require.Error(t, err)
	require.Contains(t, err.Error(), "issuer_ref: CA "+oldID+" still has 1 live certificates")
	s.cli("lease", "revoke", oldLive.LeaseID)
	s.cli("delete", "wg/config/ca/previous/"+oldID)
	certs, err = wgcert.ParseCertificatesPEM(httpGet(t, s.addr+"/v1/wg/ca/pem"))
	require.NoError(t, err)
	require.Len(t, certs, 1, "only the current CA is left")
	require.Equal(t, 1, bytes.Count(httpGet(t, s.addr+"/v1/wg/crl/pem"), []byte("BEGIN X509 CRL")))
}

// colonHex writes b as colon-separated lowercase hex, as the engine writes
// key ids.
func colonHex(b []byte) string {
	parts := make([]string, len(b))
	for i := range b {
		parts[i] = hex.EncodeToString(b[i : i+1])
	}
	return strings.Join(parts, ":")
}

package backend

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"
	"github.com/stretchr/testify/require"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/wgcert"
)

func TestConfigCA(t *testing.T) {
	env := newTestEnv(t)
	resp := env.ok(logical.ReadOperation, "config/ca", nil)
	require.Equal(t, "Test CA", resp.Data["common_name"])
	require.Equal(t, "ed25519", resp.Data["key_type"])
	require.NotContains(t, resp.Data, "private_key")
	first := resp.Data["certificate"].(string)

	env.fails(logical.UpdateOperation, "config/ca", map[string]any{"key_type": "rsa"}, `key_type: "rsa" is not "ed25519" or "ec"`)
	env.fails(logical.UpdateOperation, "config/ca", map[string]any{"pem_bundle": "junk"}, "pem_bundle:")
	require.Equal(t, first, env.ok(logical.ReadOperation, "config/ca", nil).Data["certificate"], "a refused write changes nothing")

	// Rotating to an ECDSA CA keeps the old one in the served chain, after
	// the new one cross-signed by the old.
	resp = env.ok(logical.UpdateOperation, "config/ca", map[string]any{"key_type": "ec", "common_name": "Second CA"})
	require.Equal(t, "ec", resp.Data["key_type"])
	chain := env.ok(logical.ReadOperation, "ca/pem", nil)
	require.Equal(t, http.StatusOK, chain.Data[logical.HTTPStatusCode])
	certs, err := wgcert.ParseCertificatesPEM(chain.Data[logical.HTTPRawBody].([]byte))
	require.NoError(t, err)
	require.Len(t, certs, 3)
	require.Equal(t, "Second CA", certs[0].Subject.CommonName)
	require.Equal(t, "Second CA", certs[1].Subject.CommonName)
	require.Equal(t, "Test CA", certs[1].Issuer.CommonName)
	require.Equal(t, "Test CA", certs[2].Subject.CommonName)

	// Certificates are now signed by the new CA.
	issued := env.issue("alice")
	cert, err := wgcert.ParsePEM([]byte(issued.Data["certificate"].(string)))
	require.NoError(t, err)
	require.NoError(t, cert.X509.CheckSignatureFrom(certs[0]))
}

func TestConfigCAImport(t *testing.T) {
	env := newTestEnv(t)
	certDER, keyDER, err := wgcert.GenerateCA("ec", "Imported CA", env.b.now().Add(-1e9), env.b.now().Add(1e15))
	require.NoError(t, err)
	bundle := wgcert.EncodePEM(certDER) + "-----BEGIN PRIVATE KEY-----\n" +
		base64.StdEncoding.EncodeToString(keyDER) + "\n-----END PRIVATE KEY-----\n"
	resp := env.ok(logical.UpdateOperation, "config/ca", map[string]any{"pem_bundle": bundle})
	require.Equal(t, "Imported CA", resp.Data["common_name"])
	ca := env.ok(logical.ReadOperation, "ca", nil)
	require.Equal(t, strings.TrimSpace(wgcert.EncodePEM(certDER)), strings.TrimSpace(ca.Data["certificate"].(string)))
}

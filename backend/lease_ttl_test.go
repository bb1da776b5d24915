package backend

import (
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
	"github.com/stretchr/testify/require"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/wgcert"
	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/wgkey"
)

// TestLeaseEndsWithTheCertificate: a certificate's NotAfter is whole
// seconds; its lease must not outlive it. A client renewing on the lease
// (Vault Agent re-issues at 85–95% of lease_duration) would otherwise
// renew after the certificate expired when the issue fell late in a second.
func TestLeaseEndsWithTheCertificate(t *testing.T) {
	env := newTestEnv(t)
	issued := time.Now().Truncate(time.Second).Add(900 * time.Millisecond)
	env.b.clock.set(func() time.Time { return issued })
	_, pub, err := wgkey.Generate()
	require.NoError(t, err)
	resp := env.ok(logical.UpdateOperation, "issue/laptop", map[string]any{"public_key": pub.String(), "ttl": "20s"})
	cert, err := wgcert.ParsePEM([]byte(resp.Data["certificate"].(string)))
	require.NoError(t, err)

	require.Equal(t, cert.NotAfter.Sub(issued), resp.Secret.TTL, "the lease ends when the certificate does")
	require.Equal(t, cert.NotAfter.Unix(), resp.Data["expiration"])
	rec := env.ok(logical.ReadOperation, "cert/"+resp.Data["serial_number"].(string), nil)
	require.Equal(t, cert.NotAfter.UTC().Format(time.RFC3339), rec.Data["expiration"])
}

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

func TestGatewayValidation(t *testing.T) {
	env := newTestEnv(t)
	good := func() map[string]any {
		return map[string]any{
			"endpoint": "vpn.example.net:51820", "public_key": env.gwKey,
			"address": "10.8.0.1", "address_pool": "10.8.0.0/24",
		}
	}
	with := func(k string, v any) map[string]any {
		d := good()
		d[k] = v
		return d
	}
	zero := base64.StdEncoding.EncodeToString(make([]byte, 32))
	tests := []struct {
		name string
		data map[string]any
		want string
	}{
		{"no endpoint", with("endpoint", ""), "endpoint: is required"},
		{"endpoint without port", with("endpoint", "vpn.example.net"), `endpoint: "vpn.example.net" is not host:port`},
		{"endpoint port", with("endpoint", "vpn.example.net:99999"), `endpoint: port "99999"`},
		{"no key", with("public_key", ""), "public_key: is required"},
		{"bad key", with("public_key", "abc"), "public_key: not valid base64"},
		{"low-order key", with("public_key", zero), "public_key: a low-order point"},
		{"key split by a line break", with("public_key", env.gwKey[:20]+"\n"+env.gwKey[20:]), "public_key: not valid base64"},
		{"no pool", with("address_pool", ""), "address_pool: at least one CIDR is required"},
		{"pool not a CIDR", with("address_pool", "10.8.0.0/33"), `address_pool: "10.8.0.0/33" is not a CIDR`},
		{"pool host bits", with("address_pool", "10.8.0.5/24"), "address_pool: \"10.8.0.5/24\" has host bits set; did you mean 10.8.0.0/24?"},
		{"overlapping pools", with("address_pool", "10.8.0.0/16,10.8.1.0/24"), "address_pool: prefix 10.8.1.0/24 overlaps 10.8.0.0/16"},
		{"address", with("address", "10.8.0.300"), `address: "10.8.0.300" is not an IP address`},
		{"allowed_ips", with("allowed_ips", "everything"), `allowed_ips: "everything" is not a CIDR`},
		{"dns", with("dns", "dns.example"), `dns: "dns.example" is not an IP address`},
		{"mtu", with("mtu", 100), "mtu: 100 is not between 1280 and 9000"},
		{"keepalive", with("persistent_keepalive", -1), "persistent_keepalive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env.fails(logical.UpdateOperation, "gateways/gw2", tt.data, tt.want)
			resp, err := env.do(logical.ReadOperation, "gateways/gw2", nil)
			require.NoError(t, err)
			require.Nil(t, resp, "nothing written")
		})
	}

	env.ok(logical.UpdateOperation, "gateways/gw2", good())
	resp := env.ok(logical.ReadOperation, "gateways/gw2", nil)
	require.Equal(t, []string{"10.8.0.0/24"}, resp.Data["allowed_ips"], "allowed_ips defaults to the pools")
	// An update changes only the fields it names.
	env.ok(logical.UpdateOperation, "gateways/gw2", map[string]any{"dns": "10.8.0.1", "mtu": 1380})
	resp = env.ok(logical.ReadOperation, "gateways/gw2", nil)
	require.Equal(t, "vpn.example.net:51820", resp.Data["endpoint"])
	require.Equal(t, []string{"10.8.0.1"}, resp.Data["dns"])
	require.Equal(t, 1380, resp.Data["mtu"])
	list := env.ok(logical.ListOperation, "gateways/", nil)
	require.Equal(t, []string{"gw1", "gw2"}, list.Data["keys"])

	// A gateway with live certificates stays.
	issued := env.issue("alice")
	env.fails(logical.DeleteOperation, "gateways/gw1", nil, "gateway gw1 has 1 live certificates")
	env.revokeLease(issued)
	env.ok(logical.DeleteOperation, "gateways/gw1", nil)
	env.fails(logical.UpdateOperation, "issue/laptop", map[string]any{"public_key": mustKey(t)}, `gateway: role "laptop" names unknown gateway "gw1"`)
}

func TestGatewayPoolChange(t *testing.T) {
	env := newTestEnv(t)
	first := env.issue("alice")
	// Growing the pool keeps the live addresses taken.
	env.ok(logical.UpdateOperation, "gateways/gw1", map[string]any{"address_pool": "10.77.0.0/16,10.78.0.0/16,fd77::/64"})
	second := env.issue("bob")
	require.NotEqual(t, first.Data["addresses"], second.Data["addresses"])
	require.Equal(t, []string{"10.77.0.3/32", "fd77::3/128"}, second.Data["addresses"])
}

func TestRoleValidation(t *testing.T) {
	env := newTestEnv(t)
	tests := []struct {
		name string
		data map[string]any
		want string
	}{
		{"no gateway", map[string]any{}, "gateway: is required"},
		{"unknown gateway", map[string]any{"gateway": "nope"}, `gateway: unknown gateway "nope"`},
		{"ttl over max", map[string]any{"gateway": "gw1", "ttl": "2h", "max_ttl": "1h"}, "ttl: 2h0m0s is longer than max_ttl 1h0m0s"},
		{"negative limit", map[string]any{"gateway": "gw1", "max_active_per_identity": -1}, "max_active_per_identity: must not be negative"},
		{"bad template", map[string]any{"gateway": "gw1", "common_name_template": "{{identity.entity.name"}, "common_name_template: unbalanced templating characters"},
		{"bad ttl type", map[string]any{"gateway": "gw1", "ttl": "soon"}, "ttl"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env.fails(logical.UpdateOperation, "roles/r2", tt.data, tt.want)
			resp, err := env.do(logical.ReadOperation, "roles/r2", nil)
			require.NoError(t, err)
			require.Nil(t, resp, "nothing written")
		})
	}
	env.ok(logical.UpdateOperation, "roles/r2", map[string]any{"gateway": "gw1"})
	resp := env.ok(logical.ReadOperation, "roles/r2", nil)
	require.Equal(t, int64(3600), resp.Data["ttl"])
	require.Equal(t, "", resp.Data["common_name_template"], "empty: the login's name")
	require.Equal(t, []string{"laptop", "r2"}, env.ok(logical.ListOperation, "roles/", nil).Data["keys"])
	env.ok(logical.DeleteOperation, "roles/r2", nil)
	env.fails(logical.UpdateOperation, "issue/r2", map[string]any{"public_key": mustKey(t)}, `role: unknown role "r2"`)
}

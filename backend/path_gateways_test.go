package backend

import (
	"encoding/base64"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"
	"github.com/stretchr/testify/require"
)

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

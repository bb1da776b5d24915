package backend

import (
	"context"
	"errors"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"
	"github.com/stretchr/testify/require"
)

// FuzzRequests sends arbitrary field values to every writable path. Whatever
// comes in, the engine answers with a result or a caller error (400), never
// a panic or an internal error, and a refused request leaves storage as it
// was.
func FuzzRequests(f *testing.F) {
	seeds := []struct{ path, field, value string }{
		{"issue/laptop", "public_key", "AAAA"},
		{"issue/laptop", "ttl", "-1s"},
		{"issue/laptop", "ttl", "999999999h"},
		{"gateways/gw2", "address_pool", "10.0.0.0/8,::/0"},
		{"gateways/gw2", "endpoint", "[::1]:0"},
		{"gateways/gw2", "mtu", "1e9"},
		{"roles/r", "common_name_template", "{{identity.entity.metadata.x}}"},
		{"roles/r", "max_ttl", "1s"},
		{"roles/r", "allowed_destinations", "10.20.0.0/24,10.30.0.5/32:443/tcp,fd00::/64:icmp"},
		{"roles/r", "allowed_destinations", "10.20.0.1/24:0-65536/tcp,,"},
		{"roles/r", "allowed_ips", "0.0.0.0/0,::/0"},
		{"config/ca", "pem_bundle", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"},
		{"config/ca", "key_type", "rsa"},
		{"revoke", "serial_number", "00:zz"},
		{"revoke", "public_key", "\x00\xff"},
		{"gateways/gw1/status", "applied_index", "18446744073709551616"},
		{"gateways/gw1/peers", "index", "-1"},
		{"tidy", "safety_buffer", "-5"},
		{"cert/01:02", "serial", "../../etc"},
	}
	for _, s := range seeds {
		f.Add(s.path, s.field, s.value)
	}
	f.Fuzz(func(t *testing.T, path, field, value string) {
		env := newTestEnv(t)
		before := snapshot(t, env.storage)
		for _, op := range []logical.Operation{logical.UpdateOperation, logical.ReadOperation} {
			data := map[string]any{field: value}
			if field == "wait" {
				delete(data, field) // a long-poll would only slow the fuzzer
			}
			resp, err := env.do(op, path, data)
			switch {
			case err == nil && (resp == nil || !resp.IsError()):
				continue
			case err == nil:
				// A caller error: nothing may have been written.
				if op == logical.UpdateOperation {
					requireSameStorage(t, before, snapshot(t, env.storage))
				}
			case errors.Is(err, logical.ErrUnsupportedPath), errors.Is(err, logical.ErrUnsupportedOperation),
				errors.Is(err, logical.ErrInvalidRequest), errors.Is(err, logical.ErrPermissionDenied):
			default:
				var coded logical.HTTPCodedError
				if errors.As(err, &coded) && coded.Code() < 500 {
					continue
				}
				require.Failf(t, "internal error", "%s %s %s=%q: %v", op, path, field, value, err)
			}
		}
	})
}

// snapshot copies every storage entry.
func snapshot(t *testing.T, s logical.Storage) map[string]string {
	t.Helper()
	keys, err := logical.CollectKeys(context.Background(), s)
	require.NoError(t, err)
	out := map[string]string{}
	for _, k := range keys {
		e, err := s.Get(context.Background(), k)
		require.NoError(t, err)
		out[k] = string(e.Value)
	}
	return out
}

func requireSameStorage(t *testing.T, before, after map[string]string) {
	t.Helper()
	require.Equal(t, before, after, "a refused request changed storage")
}

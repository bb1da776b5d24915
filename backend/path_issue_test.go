package backend

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
	"github.com/stretchr/testify/require"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/issuance"
	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/wgcert"
	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/wgkey"
)

func TestIssueCertificate(t *testing.T) {
	env := newTestEnv(t)
	_, pub, err := wgkey.Generate()
	require.NoError(t, err)
	resp := env.ok(logical.UpdateOperation, "issue/laptop", map[string]any{"public_key": pub.String(), "ttl": "2h"})

	cert, err := wgcert.ParsePEM([]byte(resp.Data["certificate"].(string)))
	require.NoError(t, err)
	require.Equal(t, pub, cert.PublicKey, "the certificate's subject key is the WireGuard key")
	require.Equal(t, "alice", cert.CommonName, "no entity: the token's display name")
	require.Equal(t, []string{"gw1"}, cert.Gateways)
	require.Equal(t, []netip.Addr{netip.MustParseAddr("10.77.0.2"), netip.MustParseAddr("fd77::2")}, cert.Addresses)
	require.Equal(t, []string{"10.77.0.2/32", "fd77::2/128"}, resp.Data["addresses"])
	require.Equal(t, resp.Data["serial_number"], formatSerial(cert.SerialNumber))

	cas, err := wgcert.ParseCertificatesPEM([]byte(resp.Data["issuing_ca"].(string)))
	require.NoError(t, err)
	require.NoError(t, wgcert.Verify(time.Now(), cert, wgcert.VerifyOptions{
		Roots: cas, Gateway: "gw1", PublicKey: &pub, Pools: []netip.Prefix{netip.MustParsePrefix("10.77.0.0/16"), netip.MustParsePrefix("fd77::/64")},
	}))

	// The lease is the certificate's lifetime and cannot be renewed.
	require.Equal(t, cert.NotAfter.Unix(), time.Now().Add(resp.Secret.TTL).Unix(), "the lease ends with the certificate")
	require.InDelta(t, float64(2*time.Hour), float64(resp.Secret.TTL), float64(time.Second))
	require.False(t, resp.Secret.Renewable)
	require.WithinDuration(t, cert.NotAfter, time.Now().Add(2*time.Hour), 2*time.Second)
	require.Equal(t, cert.NotAfter.Unix(), resp.Data["expiration"])
	require.Equal(t, resp.Data["serial_number"], resp.Secret.InternalData["serial_number"])

	for _, want := range []string{
		"Address = 10.77.0.2/32, fd77::2/128",
		"PublicKey = " + env.gwKey,
		"Endpoint = 198.51.100.1:51820",
		"AllowedIPs = 10.77.0.0/16, fd77::/64",
	} {
		require.Contains(t, resp.Data["wg_quick"], want)
	}
	require.NotContains(t, resp.Data, "private_key")

	// The issuance record says who asked.
	rec := env.ok(logical.ReadOperation, "cert/"+resp.Data["serial_number"].(string), nil)
	require.Equal(t, "alice", rec.Data["display_name"])
	require.Equal(t, "laptop", rec.Data["role"])
	require.Equal(t, "gw1", rec.Data["gateway"])
	require.Equal(t, pub.String(), rec.Data["public_key"])
	require.Equal(t, false, rec.Data["revoked"])
}

func TestIssueCommonNameFromEntity(t *testing.T) {
	env := newTestEnv(t)
	env.sys.EntityVal = &logical.Entity{
		ID:   "e-1",
		Name: "build-server",
		Aliases: []*logical.Alias{{
			MountType: "approle", MountAccessor: "auth_approle_1", Name: "role-id-1",
			Metadata: map[string]string{"role_name": "ci"},
		}},
	}
	env.ok(logical.UpdateOperation, "roles/by-role", map[string]any{
		"gateway": "gw1", "common_name_template": "{{identity.entity.aliases.auth_approle_1.metadata.role_name}}.devices",
	})
	env.ok(logical.UpdateOperation, "roles/missing", map[string]any{
		"gateway": "gw1", "common_name_template": "{{identity.entity.metadata.team}}",
	})
	_, pub, _ := wgkey.Generate()
	req := func(role string) (*logical.Response, error) {
		return env.b.HandleRequest(t.Context(), &logical.Request{
			Operation: logical.UpdateOperation, Path: "issue/" + role, Storage: env.storage,
			EntityID: "e-1", DisplayName: "approle",
			Data: map[string]any{"public_key": pub.String()},
		})
	}
	resp, err := req("laptop")
	require.NoError(t, err)
	require.Equal(t, "build-server", resp.Data["common_name"])
	resp, err = req("by-role")
	require.NoError(t, err)
	require.Equal(t, "ci.devices", resp.Data["common_name"])
	rec := env.ok(logical.ReadOperation, "cert/"+resp.Data["serial_number"].(string), nil)
	require.Equal(t, "e-1", rec.Data["entity_id"])
	require.Equal(t, []string{"approle:auth_approle_1"}, rec.Data["auth_mounts"])

	resp, err = req("missing")
	require.NoError(t, err)
	require.True(t, resp.IsError())
	require.Contains(t, resp.Error().Error(), "common_name_template")
}

func TestIssueBadInput(t *testing.T) {
	env := newTestEnv(t)
	_, pub, _ := wgkey.Generate()
	zero := base64.StdEncoding.EncodeToString(make([]byte, 32))
	tests := []struct {
		name string
		path string
		data map[string]any
		want string
	}{
		{"missing key", "issue/laptop", map[string]any{}, "public_key: is required"},
		{"not base64", "issue/laptop", map[string]any{"public_key": "not-a-key"}, "public_key: not valid base64"},
		{"31 bytes", "issue/laptop", map[string]any{"public_key": base64.StdEncoding.EncodeToString(make([]byte, 31))}, "public_key: not 32 bytes"},
		{"all-zero key", "issue/laptop", map[string]any{"public_key": zero}, "public_key: a low-order point"},
		{"ttl over max_ttl", "issue/laptop", map[string]any{"public_key": pub.String(), "ttl": "48h"}, "ttl: 48h0m0s is longer than the role's max_ttl 24h0m0s"},
		{"negative ttl", "issue/laptop", map[string]any{"public_key": pub.String(), "ttl": "-5s"}, "ttl"},
		{"unknown role", "issue/nope", map[string]any{"public_key": pub.String()}, `role: unknown role "nope"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env.fails(logical.UpdateOperation, tt.path, tt.data, tt.want)
		})
	}
	// Nothing was written by the refused requests.
	list := env.ok(logical.ListOperation, "certs/", nil)
	require.Empty(t, list.Data["keys"])
}

func TestIssueKeyBoundToAnotherIdentity(t *testing.T) {
	env := newTestEnv(t)
	_, pub, _ := wgkey.Generate()
	data := map[string]any{"public_key": pub.String()}
	resp, err := env.doAs("alice", logical.UpdateOperation, "issue/laptop", data)
	require.NoError(t, err)
	require.False(t, resp.IsError())
	resp, err = env.doAs("mallory", logical.UpdateOperation, "issue/laptop", data)
	require.NoError(t, err)
	require.True(t, resp.IsError())
	require.Contains(t, resp.Error().Error(), "public_key: key is bound to a live certificate of another identity")
	// The same identity may get a new certificate for its key.
	resp, err = env.doAs("alice", logical.UpdateOperation, "issue/laptop", data)
	require.NoError(t, err)
	require.False(t, resp.IsError())
}

func TestIssueGeneratedKey(t *testing.T) {
	env := newTestEnv(t)
	env.fails(logical.UpdateOperation, "issue/laptop", map[string]any{}, "does not allow generated keys")
	env.ok(logical.UpdateOperation, "roles/laptop", map[string]any{"allow_generated_keys": true})
	resp := env.ok(logical.UpdateOperation, "issue/laptop", map[string]any{})

	priv, err := wgtypes.ParseKey(resp.Data["private_key"].(string))
	require.NoError(t, err)
	cert, err := wgcert.ParsePEM([]byte(resp.Data["certificate"].(string)))
	require.NoError(t, err)
	require.Equal(t, priv.PublicKey(), cert.PublicKey)
	require.Contains(t, resp.Data["wg_quick"], "PrivateKey = "+priv.String())

	// The private key is never stored.
	keys, err := logical.CollectKeys(t.Context(), env.storage)
	require.NoError(t, err)
	for _, k := range keys {
		e, err := env.storage.Get(t.Context(), k)
		require.NoError(t, err)
		require.NotContains(t, string(e.Value), priv.String(), k)
	}
}

func TestIssuePoolExhausted(t *testing.T) {
	env := newTestEnv(t)
	env.ok(logical.UpdateOperation, "gateways/small", map[string]any{
		"endpoint": "gw.example.net:51820", "public_key": env.gwKey, "address": "10.9.0.1", "address_pool": "10.9.0.0/29",
	})
	env.ok(logical.UpdateOperation, "roles/small", map[string]any{"gateway": "small"})
	issue := func() (*logical.Response, error) {
		_, pub, _ := wgkey.Generate()
		return env.do(logical.UpdateOperation, "issue/small", map[string]any{"public_key": pub.String()})
	}
	var first *logical.Response
	for i := 0; i < 5; i++ { // a /29 less network, broadcast and the gateway
		resp, err := issue()
		require.NoError(t, err)
		require.False(t, resp.IsError(), "issue %d: %v", i, resp.Error())
		if first == nil {
			first = resp
		}
	}
	resp, err := issue()
	require.NoError(t, err)
	require.True(t, resp.IsError())
	require.Contains(t, resp.Error().Error(), `address_pool: address pool exhausted for gateway "small"`)
	require.Len(t, env.ok(logical.ListOperation, "certs/", nil).Data["keys"], 5, "no record for the refused request")

	// Revoking returns the address.
	env.revokeLease(first)
	resp, err = issue()
	require.NoError(t, err)
	require.False(t, resp.IsError())
	require.Equal(t, first.Data["addresses"], resp.Data["addresses"])
}

func TestIssueConcurrentNoDuplicateAddress(t *testing.T) {
	env := newTestEnv(t)
	const n = 300
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		seen  = map[string]string{}
		dupes []string
		resps []*logical.Response
	)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, pub, _ := wgkey.Generate()
			resp, err := env.doAs(fmt.Sprintf("dev-%d", i), logical.UpdateOperation, "issue/laptop", map[string]any{"public_key": pub.String()})
			if err != nil || resp.IsError() {
				t.Errorf("issue %d: %v %v", i, err, resp.Error())
				return
			}
			mu.Lock()
			defer mu.Unlock()
			resps = append(resps, resp)
			for _, a := range resp.Data["addresses"].([]string) {
				if prev, ok := seen[a]; ok {
					dupes = append(dupes, a+" "+prev)
				}
				seen[a] = resp.Data["serial_number"].(string)
			}
		}()
	}
	wg.Wait()
	require.Empty(t, dupes)
	require.Len(t, seen, 2*n)

	// Revoke half while issuing as many again: still no duplicate among the live.
	live := map[string]string{}
	var lmu sync.Mutex
	for i, r := range resps {
		wg.Add(2)
		go func() { defer wg.Done(); env.revokeLease(r) }()
		go func() {
			defer wg.Done()
			resp := env.issue(fmt.Sprintf("new-%d", i))
			lmu.Lock()
			defer lmu.Unlock()
			for _, a := range resp.Data["addresses"].([]string) {
				require.NotContains(t, live, a)
				live[a] = resp.Data["serial_number"].(string)
			}
		}()
	}
	wg.Wait()
	full := env.peers("0")
	require.Len(t, full.Peers, n)
	for _, p := range full.Peers {
		for _, a := range p.AllowedIPs {
			require.Equal(t, p.SerialNumber, live[a])
		}
	}
}

// countingStorage counts the storage calls that pass through it.
type countingStorage struct {
	logical.Storage
	mu         sync.Mutex
	gets, puts int
}

func (c *countingStorage) Get(ctx context.Context, key string) (*logical.StorageEntry, error) {
	c.mu.Lock()
	c.gets++
	c.mu.Unlock()
	return c.Storage.Get(ctx, key)
}

func (c *countingStorage) Put(ctx context.Context, e *logical.StorageEntry) error {
	c.mu.Lock()
	c.puts++
	c.mu.Unlock()
	return c.Storage.Put(ctx, e)
}

func TestIssueIsOneStorageWrite(t *testing.T) {
	env := newTestEnv(t)
	counting := &countingStorage{Storage: env.storage}
	env.storage = counting
	for _, live := range []int{1, 50, 200} {
		for len(env.peers("0").Peers) < live-1 {
			env.issue("alice")
		}
		counting.gets, counting.puts = 0, 0
		env.issue("alice")
		require.Equal(t, 1, counting.puts, "writes per issue with %d live", live)
		require.Equal(t, 0, counting.gets, "reads per issue with %d live", live)
	}
	// Every certificate is its own record: there is no list of peers.
	keys, err := logical.CollectKeys(t.Context(), env.storage)
	require.NoError(t, err)
	var certKeys int
	for _, k := range keys {
		if strings.HasPrefix(k, certStoragePrefix) {
			certKeys++
		}
	}
	require.Equal(t, 200, certKeys)
	require.Len(t, keys, 200+3) // + config/ca, the gateway and the role
}

// TestIssueDefaultCommonName: a role without a common_name_template names
// an AppRole device after its AppRole role, not after the entity_1234abcd
// Vault generated for it, and reads the template back as empty.
func TestIssueDefaultCommonName(t *testing.T) {
	env := newTestEnv(t)
	require.Equal(t, "", env.ok(logical.ReadOperation, "roles/laptop", nil).Data["common_name_template"])
	env.sys.EntityVal = &logical.Entity{
		ID:   "e-1",
		Name: "entity_e67681cc",
		Aliases: []*logical.Alias{{
			MountType: "approle", MountAccessor: "auth_approle_1", Name: "0b9d3a6e-6c0e-4d0b-9c55-2f4a9e4b1c11",
			Metadata: map[string]string{"role_name": "laptop-fleet"},
		}},
	}
	_, pub, _ := wgkey.Generate()
	resp, err := env.b.HandleRequest(t.Context(), &logical.Request{
		Operation: logical.UpdateOperation, Path: "issue/laptop", Storage: env.storage,
		EntityID: "e-1", DisplayName: "approle",
		Data: map[string]any{"public_key": pub.String()},
	})
	require.NoError(t, err)
	require.False(t, resp.IsError(), "%v", resp.Error())
	require.Equal(t, "laptop-fleet", resp.Data["common_name"])
	require.Contains(t, resp.Data["wg_quick"], "for laptop-fleet\n")

	// A role stored with a template goes back to the default with "".
	env.ok(logical.UpdateOperation, "roles/laptop", map[string]any{"common_name_template": "{{identity.entity.name}}"})
	env.ok(logical.UpdateOperation, "roles/laptop", map[string]any{"common_name_template": ""})
	require.Equal(t, "", env.ok(logical.ReadOperation, "roles/laptop", nil).Data["common_name_template"])
}

// TestIssueAnswerIsAnIssuanceResponse: the issue answer is exactly an
// issuance.Response, the type wg-device reads: no key it does not know,
// none of its fields left empty.
func TestIssueAnswerIsAnIssuanceResponse(t *testing.T) {
	env := newTestEnv(t)
	env.ok(logical.UpdateOperation, "gateways/gw1", map[string]any{"dns": "10.77.0.1", "mtu": 1380, "persistent_keepalive": 25})
	for name, data := range map[string]map[string]any{
		"device's key":  {"public_key": mustKey(t)},
		"generated key": {},
	} {
		t.Run(name, func(t *testing.T) {
			if len(data) == 0 {
				env.ok(logical.UpdateOperation, "roles/laptop", map[string]any{"allow_generated_keys": true})
			}
			resp := env.ok(logical.UpdateOperation, "issue/laptop", data)
			raw, err := json.Marshal(resp.Data)
			require.NoError(t, err)
			var got issuance.Response
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.DisallowUnknownFields()
			require.NoError(t, dec.Decode(&got))
			v := reflect.ValueOf(got)
			for i := range v.NumField() {
				if v.Type().Field(i).Name == "PrivateKey" && len(data) > 0 {
					require.True(t, v.Field(i).IsZero(), "private_key with the device's own key")
					continue
				}
				require.False(t, v.Field(i).IsZero(), "%s is empty", v.Type().Field(i).Name)
			}
		})
	}
}

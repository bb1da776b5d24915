package backend

import (
	"strings"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"
	"github.com/stretchr/testify/require"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/wgcert"
	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/wgkey"
	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/wgpolicy"
)

// contractor is the issue's example of a role with an access policy.
const contractor = "10.20.0.0/24,10.30.0.5/32:443/tcp,10.30.0.53/32:53/udp"

// refused sends a request that must be a 400 (an error response, not an
// error of the engine) whose message is want exactly.
func refused(t *testing.T, e *testEnv, op logical.Operation, path string, data map[string]any, want string) {
	t.Helper()
	resp, err := e.do(op, path, data)
	require.NoError(t, err, path)
	require.NotNil(t, resp, path)
	require.True(t, resp.IsError(), "%s: want error %q, got %v", path, want, resp.Data)
	require.Equal(t, want, resp.Error().Error())
}

func TestRoleAllowedDestinationsRefused(t *testing.T) {
	env := newTestEnv(t)
	env.ok(logical.UpdateOperation, "roles/contractor", map[string]any{"gateway": "gw1", "allowed_destinations": "10.9.0.0/16"})
	tests := []struct{ value, want string }{
		{"10.20.0.1/24", `allowed_destinations: malformed destination "10.20.0.1/24": host bits set (the prefix is 10.20.0.0/24)`},
		{"10.20.0.0/24,10.30.0.5:443/tcp", `allowed_destinations: malformed destination "10.30.0.5:443/tcp": bad prefix "10.30.0.5:443/tcp": want address/bits first, such as 10.20.0.0/24 or 10.30.0.5/32:443/tcp`},
		{"10.20.0.0/24:443/sctp", `allowed_destinations: malformed destination "10.20.0.0/24:443/sctp": protocol "sctp": want tcp or udp (or icmp without a port)`},
		{"10.20.0.0/24:70000/tcp", `allowed_destinations: malformed destination "10.20.0.0/24:70000/tcp": port "70000": want 1..65535`},
		{"10.20.0.0/24:99-10/udp", `allowed_destinations: malformed destination "10.20.0.0/24:99-10/udp": port range 99-10 is reversed`},
		{"10.20.0.0/24:443", `allowed_destinations: malformed destination "10.20.0.0/24:443": want icmp, port/proto or low-high/proto after ':', got "443"`},
		{"10.20.0.0/24,,10.30.0.0/24", `allowed_destinations: malformed destination "": no prefix: want address/bits first, such as 10.20.0.0/24 or 10.30.0.5/32:443/tcp`},
		{"10.20.0.1/24,10.20.0.0/24:icmp,10.30.0.0/24:0/tcp", `allowed_destinations: malformed destination "10.20.0.1/24": host bits set (the prefix is 10.20.0.0/24); malformed destination "10.30.0.0/24:0/tcp": port "0": want 1..65535`},
		{"banana/8", `allowed_destinations: malformed destination "banana/8": bad prefix "banana/8": want address/bits first, such as 10.20.0.0/24 or 10.30.0.5/32:443/tcp`},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			refused(t, env, logical.UpdateOperation, "roles/contractor", map[string]any{"allowed_destinations": tt.value}, tt.want)
			refused(t, env, logical.CreateOperation, "roles/other", map[string]any{"gateway": "gw1", "allowed_destinations": tt.value}, tt.want)
			// Nothing written: the role keeps its rules, the other does not exist.
			resp, err := env.do(logical.ReadOperation, "roles/contractor", nil)
			require.NoError(t, err)
			require.Equal(t, []string{"10.9.0.0/16"}, resp.Data["allowed_destinations"])
			resp, err = env.do(logical.ReadOperation, "roles/other", nil)
			require.NoError(t, err)
			require.Nil(t, resp)
		})
	}
	refused(t, env, logical.UpdateOperation, "roles/contractor", map[string]any{"allowed_ips": "10.0.0.0/8,10.1.2.3"}, `allowed_ips: "10.1.2.3" is not a CIDR`)
}

func TestRoleAllowedDestinationsRead(t *testing.T) {
	env := newTestEnv(t)
	// The default: no policy, shown as an empty list.
	resp := env.ok(logical.ReadOperation, "roles/laptop", nil)
	require.Equal(t, []string{}, resp.Data["allowed_destinations"])
	require.Equal(t, []string{}, resp.Data["allowed_ips"])

	// Stored and shown in canonical form: sorted, without duplicates.
	env.ok(logical.UpdateOperation, "roles/laptop", map[string]any{
		"allowed_destinations": "fd00::/64:443-443/tcp, 10.30.0.5/32:443/tcp,10.20.0.0/24,10.20.0.0/24",
		"allowed_ips":          "10.0.0.0/8",
	})
	resp = env.ok(logical.ReadOperation, "roles/laptop", nil)
	require.Equal(t, []string{"10.20.0.0/24", "10.30.0.5/32:443/tcp", "fd00::/64:443/tcp"}, resp.Data["allowed_destinations"])
	require.Equal(t, []string{"10.0.0.0/8"}, resp.Data["allowed_ips"])
	require.Equal(t, "gw1", resp.Data["gateway"], "other fields kept")

	// An update without the field keeps it; an empty value clears it.
	env.ok(logical.UpdateOperation, "roles/laptop", map[string]any{"ttl": "2h"})
	require.Len(t, env.ok(logical.ReadOperation, "roles/laptop", nil).Data["allowed_destinations"], 3)
	env.ok(logical.UpdateOperation, "roles/laptop", map[string]any{"allowed_destinations": "", "allowed_ips": ""})
	resp = env.ok(logical.ReadOperation, "roles/laptop", nil)
	require.Equal(t, []string{}, resp.Data["allowed_destinations"])
	require.Equal(t, []string{}, resp.Data["allowed_ips"])
}

// issueRole issues a certificate for a fresh key under role as alice.
func (e *testEnv) issueRole(role string) *logical.Response {
	e.t.Helper()
	_, pub, err := wgkey.Generate()
	require.NoError(e.t, err)
	return e.ok(logical.UpdateOperation, "issue/"+role, map[string]any{"public_key": pub.String()})
}

// certOf parses the certificate of an issue response.
func certOf(t *testing.T, resp *logical.Response) *wgcert.Certificate {
	t.Helper()
	c, err := wgcert.ParsePEM([]byte(resp.Data["certificate"].(string)))
	require.NoError(t, err)
	return c
}

// wgQuickValue returns the line of the wg-quick text that starts with key.
func wgQuickValue(t *testing.T, resp *logical.Response, key string) string {
	t.Helper()
	for _, line := range strings.Split(resp.Data["wg_quick"].(string), "\n") {
		if strings.HasPrefix(line, key+" = ") {
			return line
		}
	}
	require.Failf(t, "no such line", "%s in\n%s", key, resp.Data["wg_quick"])
	return ""
}

func TestIssueWithAccessPolicy(t *testing.T) {
	env := newTestEnv(t)
	env.ok(logical.UpdateOperation, "roles/contractor", map[string]any{"gateway": "gw1", "ttl": "8h", "allowed_destinations": contractor})
	want := []string{"10.20.0.0/24", "10.30.0.5/32:443/tcp", "10.30.0.53/32:53/udp"}

	resp := env.issueRole("contractor")
	c := certOf(t, resp)
	require.True(t, c.HasPolicy)
	require.Equal(t, want, texts(c.Destinations), "the certificate carries the role's rules")
	require.Equal(t, want, resp.Data["allowed_destinations"])
	// Split tunnel: the device routes only the destinations' prefixes.
	require.Equal(t, []string{"10.20.0.0/24", "10.30.0.5/32", "10.30.0.53/32"}, resp.Data["allowed_ips"])
	require.Equal(t, "AllowedIPs = 10.20.0.0/24, 10.30.0.5/32, 10.30.0.53/32", wgQuickValue(t, resp, "AllowedIPs"))

	serial := resp.Data["serial_number"].(string)
	require.Equal(t, want, env.ok(logical.ReadOperation, "cert/"+serial, nil).Data["allowed_destinations"])

	// The role changes: later certificates get the new rules, the live one
	// keeps those it was signed with.
	env.ok(logical.UpdateOperation, "roles/contractor", map[string]any{"allowed_destinations": "10.20.0.0/24:icmp"})
	later := env.issueRole("contractor")
	require.Equal(t, []string{"10.20.0.0/24:icmp"}, texts(certOf(t, later).Destinations))
	require.Equal(t, []string{"10.20.0.0/24"}, later.Data["allowed_ips"])
	require.Equal(t, want, env.ok(logical.ReadOperation, "cert/"+serial, nil).Data["allowed_destinations"])
	require.Equal(t, want, texts(certOf(t, resp).Destinations))

	// A role's allowed_ips wins over the destinations' prefixes.
	env.ok(logical.UpdateOperation, "roles/contractor", map[string]any{"allowed_ips": "10.0.0.0/8"})
	explicit := env.issueRole("contractor")
	require.Equal(t, []string{"10.0.0.0/8"}, explicit.Data["allowed_ips"])
	require.Equal(t, "AllowedIPs = 10.0.0.0/8", wgQuickValue(t, explicit, "AllowedIPs"))
	require.True(t, certOf(t, explicit).HasPolicy)
}

func TestIssueWithoutAccessPolicy(t *testing.T) {
	env := newTestEnv(t)
	resp := env.issueRole("laptop")
	c := certOf(t, resp)
	require.False(t, c.HasPolicy, "no rules, no extension: today's certificates")
	for _, e := range c.X509.Extensions {
		require.False(t, e.Id.Equal(wgpolicy.OID))
	}
	require.Equal(t, []string{}, resp.Data["allowed_destinations"])
	require.Equal(t, []string{"10.77.0.0/16", "fd77::/64"}, resp.Data["allowed_ips"], "the gateway's pools")
	require.Equal(t, []string{}, env.ok(logical.ReadOperation, "cert/"+resp.Data["serial_number"].(string), nil).Data["allowed_destinations"])

	// A role's allowed_ips applies without destinations too.
	env.ok(logical.UpdateOperation, "roles/laptop", map[string]any{"allowed_ips": "0.0.0.0/0,::/0"})
	full := env.issueRole("laptop")
	require.Equal(t, []string{"0.0.0.0/0", "::/0"}, full.Data["allowed_ips"])
	require.False(t, certOf(t, full).HasPolicy)
}

// TestIssueWithAccessPolicyIsOneStorageWrite: the rules come from the
// cached role, so issuing stays one write and no read.
func TestIssueWithAccessPolicyIsOneStorageWrite(t *testing.T) {
	env := newTestEnv(t)
	env.ok(logical.UpdateOperation, "roles/contractor", map[string]any{"gateway": "gw1", "allowed_destinations": contractor})
	counting := &countingStorage{Storage: env.storage}
	env.storage = counting
	env.issueRole("contractor")
	require.Equal(t, 1, counting.puts)
	require.Equal(t, 0, counting.gets)
}

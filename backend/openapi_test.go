package backend

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
	"github.com/stretchr/testify/require"
)

// openAPI returns the OpenAPI document the backend gives Vault for
// sys/internal/specs/openapi: its answer to a help request on its root.
func (e *testEnv) openAPI() *framework.OASDocument {
	e.t.Helper()
	e.sys.PluginEnvironment = &logical.PluginEnvironment{VaultVersion: "1.21.0"}
	resp, err := e.b.HandleRequest(e.t.Context(), &logical.Request{Operation: logical.HelpOperation, Storage: e.storage})
	require.NoError(e.t, err)
	doc, ok := resp.Data["openapi"].(*framework.OASDocument)
	require.True(e.t, ok, "help answer: %v", resp.Data)
	return doc
}

// operations returns the operations of an OpenAPI path item by HTTP method.
func operations(item *framework.OASPathItem) map[string]*framework.OASOperation {
	out := map[string]*framework.OASOperation{}
	for method, op := range map[string]*framework.OASOperation{
		"get": item.Get, "post": item.Post, "delete": item.Delete, "patch": item.Patch,
	} {
		if op != nil {
			out[method] = op
		}
	}
	return out
}

// TestEveryPathNamesItsOperations: every path carries DisplayAttrs with the
// engine's operation prefix, and each of its operations a verb or a suffix
// of its own, so that no operation id in Vault's OpenAPI document is made up
// from the path's regular expression.
func TestEveryPathNamesItsOperations(t *testing.T) {
	env := newTestEnv(t)
	for _, p := range env.b.Paths {
		require.NotNil(t, p.DisplayAttrs, "%s: no DisplayAttrs", p.Pattern)
		require.Equal(t, operationPrefixWireGuard, p.DisplayAttrs.OperationPrefix, p.Pattern)
		for op, h := range p.Operations {
			verb, suffix := p.DisplayAttrs.OperationVerb, p.DisplayAttrs.OperationSuffix
			if a := h.Properties().DisplayAttrs; a != nil {
				verb, suffix = cmpOr(a.OperationVerb, verb), cmpOr(a.OperationSuffix, suffix)
			}
			require.True(t, verb != "" || suffix != "", "%s %s: neither a verb nor a suffix", op, p.Pattern)
		}
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// TestOpenAPIOperationIDs: the operations in Vault's OpenAPI document have
// these names, each once.
func TestOpenAPIOperationIDs(t *testing.T) {
	doc := newTestEnv(t).openAPI()
	var ids []string
	for path, item := range doc.Paths {
		for method, op := range operations(item) {
			require.NotEmpty(t, op.OperationID, "%s %s", method, path)
			ids = append(ids, op.OperationID)
		}
	}
	slices.Sort(ids)
	require.Equal(t, []string{
		"wireguard-configure-ca",
		"wireguard-delete-block",
		"wireguard-delete-gateway",
		"wireguard-delete-gateway-status-instance",
		"wireguard-delete-previous-ca",
		"wireguard-delete-role",
		"wireguard-find-certificates",
		"wireguard-issue-certificate",
		"wireguard-list-blocks",
		"wireguard-list-certificates",
		"wireguard-list-gateways",
		"wireguard-list-previous-cas",
		"wireguard-list-roles",
		"wireguard-read-block",
		"wireguard-read-ca",
		"wireguard-read-ca-configuration",
		"wireguard-read-ca-pem",
		"wireguard-read-certificate",
		"wireguard-read-crl",
		"wireguard-read-crl-pem",
		"wireguard-read-gateway",
		"wireguard-read-gateway-peers",
		"wireguard-read-gateway-status",
		"wireguard-read-previous-ca",
		"wireguard-read-role",
		"wireguard-report-gateway-status",
		"wireguard-revoke-certificate",
		"wireguard-tidy",
		"wireguard-write-block",
		"wireguard-write-gateway",
		"wireguard-write-role",
	}, ids)
	require.Len(t, slices.Compact(slices.Clone(ids)), len(ids), "operation ids are unique")
}

// TestOpenAPIPeersQuery: the peer feed's index, wait, limit, after and certificate_format are
// query parameters of its GET, as wg-gateway sends them.
func TestOpenAPIPeersQuery(t *testing.T) {
	doc := newTestEnv(t).openAPI()
	item, ok := doc.Paths["/gateways/{name}/peers"]
	require.True(t, ok, "paths: %v", slices.Sorted(maps.Keys(doc.Paths)))
	require.NotNil(t, item.Get)
	in := map[string]string{}
	for _, p := range item.Get.Parameters {
		in[p.Name] = p.In
	}
	for _, p := range item.Parameters {
		in[p.Name] = p.In
	}
	require.Equal(t, map[string]string{"name": "path", "index": "query", "wait": "query", "limit": "query", "after": "query", "certificate_format": "query"}, in)
	require.True(t, strings.HasPrefix(item.Get.OperationID, operationPrefixWireGuard+"-"))
}

package device

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"testing"

	vault "github.com/hashicorp/vault/api"
	"github.com/stretchr/testify/require"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/cmd/internal/vaultlogin"
)

func TestClassifyIssue(t *testing.T) {
	resp := func(code int, msgs ...string) error {
		return fmt.Errorf("write: %w", &vault.ResponseError{StatusCode: code, Errors: msgs})
	}
	for _, tc := range []struct {
		name      string
		err       error
		want      error // nil: transient
		contains  string
		transient bool
	}{
		{"blocked", resp(403, `permission denied: common_name "laptop-7" is blocked by block "stolen" (by root at 2026-11-25T15:00:00Z); no certificate is issued until the block is deleted`),
			ErrBlocked, `blocked: wg/issue/laptop refused a certificate (Vault said: permission denied: common_name "laptop-7" is blocked by block "stolen" (by root`, false},
		{"403", resp(403, "1 error occurred:\n\t* permission denied\n\n"), ErrPermissionDenied,
			`(Vault said: permission denied): give the auth role a policy with path "wg/issue/laptop" { capabilities = ["update"] }`, false},
		{"unknown role", resp(400, `role: unknown role "laptop"`), ErrUnknownRole,
			"check -role, or have an operator create it with `vault write wg/roles/laptop gateway=...`", false},
		{"pool exhausted", resp(400, `address_pool: address pool exhausted for gateway "gw1"`), ErrPoolExhausted,
			"an operator must widen the gateway's address_pool or revoke unused certificates", false},
		{"no mount", resp(404, "no handler for route \"nowg/issue/laptop\". route entry not found."), ErrNoMount,
			"no WireGuard secrets engine at wg/", false},
		{"replacement refused", resp(400, "replaces: certificate 0a:0b is revoked"), ErrReplaceRefused,
			"wg/issue/laptop: replaces: certificate 0a:0b is revoked", false},
		{"other 400", resp(400, "ttl: 48h0m0s is longer than the role's max_ttl 24h0m0s"), ErrRefused,
			"wg/issue/laptop: ttl: 48h0m0s is longer than the role's max_ttl 24h0m0s", false},
		{"sealed", resp(503, "Vault is sealed"), nil, "Vault is sealed", true},
		{"rate limited", resp(429, "request path \"wg/issue/laptop\": rate limit quota exceeded"), nil, "rate limit", true},
		{"unreachable", errors.New("dial tcp 127.0.0.1:8200: connect: connection refused"), nil, "connection refused", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ClassifyIssue("wg", "laptop", tc.err)
			if tc.want != nil {
				require.ErrorIs(t, got, tc.want)
			}
			require.Contains(t, got.Error(), tc.contains)
			require.Equal(t, tc.transient, Transient(got))
		})
	}
}

// TestLoginRefusalsAreFinal: a login vaultlogin classifies as refused ends
// Issue and Run; one it leaves unclassified is retried.
func TestLoginRefusalsAreFinal(t *testing.T) {
	approle := &vaultlogin.Config{Method: vaultlogin.AppRole, AppRoleMount: "approle", RoleIDFile: "/etc/wg/role-id", SecretIDFile: "/etc/wg/secret-id"}
	for _, tc := range []struct {
		name      string
		err       error
		transient bool
	}{
		{"bad secret id", vaultlogin.ClassifyLogin(approle, &vault.ResponseError{StatusCode: 400, Errors: []string{"invalid role or secret ID"}}), false},
		{"no mount", vaultlogin.ClassifyLogin(approle, &vault.ResponseError{StatusCode: 404, Errors: []string{"no handler for route"}}), false},
		{"unreadable", fmt.Errorf("%w: secret id: open /etc/wg/secret-id: permission denied", vaultlogin.ErrCredentialsUnreadable), false},
		{"wrapping token from elsewhere", vaultlogin.CheckCreationPath("approle", "sys/wrapping/wrap"), false},
		{"sealed", vaultlogin.ClassifyLogin(approle, &vault.ResponseError{StatusCode: 503, Errors: []string{"Vault is sealed"}}), true},
		{"unreachable", vaultlogin.ClassifyLogin(approle, errors.New("connection refused")), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.transient, Transient(tc.err))
		})
	}
}

func TestClassifyTransport(t *testing.T) {
	put := func(err error) error {
		return fmt.Errorf("unable to log in: %w", &url.Error{Op: "Put", URL: "https://127.0.0.1:8200/v1/auth/approle/login", Err: err})
	}
	for _, tc := range []struct {
		name    string
		err     error
		addrSet bool
		want    string // "": not a configuration error
	}{
		{"https to http", put(http.ErrSchemeMismatch), true,
			"VAULT_ADDR: https://127.0.0.1:8200 answers plain HTTP, not HTTPS: set VAULT_ADDR=http://127.0.0.1:8200"},
		{"https to http, VAULT_ADDR not set", put(http.ErrSchemeMismatch), false,
			"VAULT_ADDR: https://127.0.0.1:8200 answers plain HTTP, not HTTPS: set VAULT_ADDR=http://127.0.0.1:8200 " +
				"(VAULT_ADDR is not set: using Vault's default https://127.0.0.1:8200)"},
		{"unknown CA", put(&tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}), true,
			"VAULT_CACERT: the certificate of https://127.0.0.1:8200 does not verify (x509: certificate signed by unknown authority): " +
				"set VAULT_CACERT to the file of the CA that issued Vault's certificate, or check the host name in VAULT_ADDR"},
		{"connection refused", put(errors.New("dial tcp 127.0.0.1:8200: connect: connection refused")), false, ""},
		{"sealed", &vault.ResponseError{StatusCode: 503, Errors: []string{"Vault is sealed"}}, true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ClassifyTransport("https://127.0.0.1:8200", tc.addrSet, tc.err)
			if tc.want == "" {
				require.NoError(t, got)
				return
			}
			require.EqualError(t, got, tc.want)
			require.False(t, Transient(got))
			retry, _ := RetryPolicy(t.Context(), nil, tc.err)
			require.False(t, retry, "not retried by the Vault client either")
		})
	}
}

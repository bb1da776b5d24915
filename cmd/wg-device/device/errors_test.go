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
		{"403", resp(403, "1 error occurred:\n\t* permission denied\n\n"), ErrPermissionDenied,
			`(Vault said: permission denied): give the auth role a policy with path "wg/issue/laptop" { capabilities = ["update"] }`, false},
		{"unknown role", resp(400, `role: unknown role "laptop"`), ErrUnknownRole,
			"check -role, or have an operator create it with `vault write wg/roles/laptop gateway=...`", false},
		{"pool exhausted", resp(400, `address_pool: address pool exhausted for gateway "gw1"`), ErrPoolExhausted,
			"an operator must widen the gateway's address_pool or revoke unused certificates", false},
		{"no mount", resp(404, "no handler for route \"nowg/issue/laptop\". route entry not found."), ErrNoMount,
			"no WireGuard secrets engine at wg/", false},
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

func TestClassifyLogin(t *testing.T) {
	approle := &AuthConfig{Method: AuthAppRole, AppRoleMount: "approle", RoleIDFile: "/etc/wg/role-id", SecretIDFile: "/etc/wg/secret-id"}
	k8s := &AuthConfig{Method: AuthKubernetes, K8sMount: "kubernetes", K8sRole: "laptops", K8sTokenFile: DefaultK8sTokenFile}
	cert := &AuthConfig{Method: AuthCert, CertMount: "cert", CertRole: "devices", ClientCert: "/etc/wg/device.pem", ClientKey: "/etc/wg/device.key"}
	for _, tc := range []struct {
		name     string
		auth     *AuthConfig
		err      error
		want     error
		contains string
	}{
		{"approle bad secret id", approle, &vault.ResponseError{StatusCode: 400, Errors: []string{"invalid role or secret ID"}},
			ErrCredentialsRefused, "approle login at auth/approle: invalid role or secret ID: check /etc/wg/role-id and /etc/wg/secret-id"},
		{"approle no mount", approle, &vault.ResponseError{StatusCode: 403, Errors: []string{"permission denied"}},
			ErrCredentialsRefused, "no auth method is mounted at auth/approle: check -approle-mount"},
		{"kubernetes unbound service account", k8s, &vault.ResponseError{StatusCode: 403, Errors: []string{"permission denied"}},
			ErrCredentialsRefused, `bound to Vault role "laptops" (bound_service_account_names and _namespaces of auth/kubernetes/role/laptops)`},
		{"cert from another CA", cert, &vault.ResponseError{StatusCode: 400, Errors: []string{"invalid certificate or no client certificate supplied"}},
			ErrCredentialsRefused, `check that /etc/wg/device.pem is current and signed by a CA that certificate role "devices" of auth/cert trusts`},
		{"no handler", cert, &vault.ResponseError{StatusCode: 404, Errors: []string{"no handler for route"}},
			ErrNoMount, "enable it with `vault auth enable -path=cert cert`"},
		{"unreachable", approle, errors.New("connection refused"), nil, "approle login: connection refused"},
		{"standby behind", approle, &vault.ResponseError{StatusCode: http.StatusPreconditionFailed}, nil, "412"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ClassifyLogin(tc.auth, tc.err)
			if tc.want != nil {
				require.ErrorIs(t, got, tc.want)
				require.False(t, Transient(got))
			} else {
				require.True(t, Transient(got))
			}
			require.Contains(t, got.Error(), tc.contains)
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

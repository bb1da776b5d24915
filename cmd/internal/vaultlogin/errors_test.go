package vaultlogin

import (
	"errors"
	"net/http"
	"testing"

	vault "github.com/hashicorp/vault/api"
	"github.com/stretchr/testify/require"
)

func TestClassifyLogin(t *testing.T) {
	approle := &Config{Method: AppRole, AppRoleMount: "approle", RoleIDFile: "/etc/wg/role-id", SecretIDFile: "/etc/wg/secret-id"}
	k8s := &Config{Method: Kubernetes, K8sMount: "kubernetes", K8sRole: "laptops", K8sTokenFile: DefaultK8sTokenFile}
	cert := &Config{Method: Cert, CertMount: "cert", CertRole: "devices", ClientCert: "/etc/wg/device.pem", ClientKey: "/etc/wg/device.key"}
	for _, tc := range []struct {
		name     string
		auth     *Config
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
		{"rate limited", approle, &vault.ResponseError{StatusCode: http.StatusTooManyRequests}, nil, "429"},
		{"sealed", approle, &vault.ResponseError{StatusCode: 503, Errors: []string{"Vault is sealed"}}, nil, "Vault is sealed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ClassifyLogin(tc.auth, tc.err)
			if tc.want != nil {
				require.ErrorIs(t, got, tc.want)
				require.True(t, Final(got))
			} else {
				require.False(t, Final(got))
			}
			require.Contains(t, got.Error(), tc.contains)
		})
	}
}

func TestSaid(t *testing.T) {
	require.Equal(t, "permission denied", Said(&vault.ResponseError{StatusCode: 403, Errors: []string{"1 error occurred:\n\t* permission denied\n\n"}}))
	require.Equal(t, "a; b", Said(&vault.ResponseError{StatusCode: 400, Errors: []string{"a", "  b\n"}}))
	require.Equal(t, "HTTP 500", Said(&vault.ResponseError{StatusCode: 500}))
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		c    Config
		want string
	}{
		{Config{Method: AppRole, AppRoleMount: "approle", RoleIDFile: "r", SecretIDFile: "s"}, ""},
		{Config{Method: AppRole, AppRoleMount: "approle", RoleIDFile: "r"}, "-auth approle needs -role-id-file and -secret-id-file"},
		{Config{Method: Kubernetes, K8sMount: "kubernetes", K8sTokenFile: DefaultK8sTokenFile}, "-auth kubernetes needs -k8s-role, the Vault role bound to the service account"},
		{Config{Method: Cert, CertMount: "cert", ClientCert: "c"}, "-auth cert needs -client-cert and -client-key"},
		{Config{Method: Token}, "-auth token needs -token-file"},
		{Config{Method: Token, TokenFile: "t"}, ""},
		{Config{Method: "ldap"}, `-auth "ldap": want approle, kubernetes, cert or token`},
	} {
		err := tc.c.Validate()
		if tc.want == "" {
			require.NoError(t, err)
			continue
		}
		require.EqualError(t, err, tc.want)
	}
}

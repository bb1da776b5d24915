package vaultlogin

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"
)

// appRoleFiles writes a role id file and a secret id file holding
// secretID, with mode, and returns the Config naming them.
func appRoleFiles(t *testing.T, secretID string, mode os.FileMode) Config {
	dir := t.TempDir()
	c := Config{Method: AppRole, AppRoleMount: "approle",
		RoleIDFile: filepath.Join(dir, "role-id"), SecretIDFile: filepath.Join(dir, "secret-id")}
	require.NoError(t, os.WriteFile(c.RoleIDFile, []byte("the-role-id\n"), 0o600))
	require.NoError(t, os.WriteFile(c.SecretIDFile, []byte(secretID+"\n"), 0o600))
	require.NoError(t, os.Chmod(c.SecretIDFile, mode))
	return c
}

func TestAppRoleLogin(t *testing.T) {
	f := newFakeVault(t)
	f.handle("/v1/sys/wrapping/lookup", answer(400, `{"errors":["wrapping token is not valid or does not exist"]}`))
	f.handle("/v1/auth/approle/login", answer(200, loginOK))
	var log bytes.Buffer
	l := New(appRoleFiles(t, "6f8a2c1e-secret", 0o600), hclog.New(&hclog.LoggerOptions{Output: &log}))
	client := f.client()
	client.SetToken("stale")

	secret, err := l.Login(t.Context(), client)
	require.NoError(t, err)
	require.Equal(t, "hvs.login", secret.Auth.ClientToken)
	require.Equal(t, "hvs.login", client.Token(), "the client carries the login's token")
	login := f.last("/v1/auth/approle/login")
	require.Equal(t, map[string]any{"role_id": "the-role-id", "secret_id": "6f8a2c1e-secret"}, login.body)
	require.Empty(t, login.token, "a login sends no token")
	require.Empty(t, log.String(), "a 0600 file is no cause for a warning")
}

func TestCredentialFileWarning(t *testing.T) {
	f := newFakeVault(t)
	f.handle("/v1/sys/wrapping/lookup", answer(400, `{"errors":["wrapping token is not valid or does not exist"]}`))
	f.handle("/v1/auth/approle/login", answer(200, loginOK))
	var log bytes.Buffer
	c := appRoleFiles(t, "6f8a2c1e-secret", 0o644)
	_, err := New(c, hclog.New(&hclog.LoggerOptions{Output: &log})).Login(t.Context(), f.client())
	require.NoError(t, err, "the file is read all the same")
	require.Contains(t, log.String(), "[WARN]  credential file is accessible to other users: make it mode 0600 (chmod 600) and owned by the daemon's user: file="+c.SecretIDFile+" mode=0644")
	require.NotContains(t, log.String(), c.RoleIDFile)
}

func TestUnreadableCredentials(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(c *Config)
		want  string
	}{
		{"missing secret id", func(c *Config) { require.NoError(t, os.Remove(c.SecretIDFile)) }, "credentials unreadable: secret id: open "},
		{"empty role id", func(c *Config) { require.NoError(t, os.WriteFile(c.RoleIDFile, []byte(" \n"), 0o600)) }, "credentials unreadable: role id: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeVault(t)
			c := appRoleFiles(t, "6f8a2c1e-secret", 0o600)
			tc.setup(&c)
			_, err := New(c, hclog.NewNullLogger()).Login(t.Context(), f.client())
			require.ErrorIs(t, err, ErrCredentialsUnreadable)
			require.ErrorContains(t, err, tc.want)
			require.True(t, Final(err))
			require.Empty(t, f.paths(), "nothing is asked of Vault")
		})
	}
}

func TestKubernetesLoginReadsTheTokenFile(t *testing.T) {
	f := newFakeVault(t)
	f.handle("/v1/auth/k8s/login", answer(200, loginOK))
	dir := t.TempDir()
	c := Config{Method: Kubernetes, K8sMount: "k8s", K8sRole: "devices", K8sTokenFile: filepath.Join(dir, "token")}
	l := New(c, hclog.NewNullLogger())
	for _, jwt := range []string{"jwt-one", "jwt-two"} { // a projected token is rotated
		require.NoError(t, os.WriteFile(c.K8sTokenFile, []byte(jwt), 0o600))
		_, err := l.Login(t.Context(), f.client())
		require.NoError(t, err)
		require.Equal(t, map[string]any{"role": "devices", "jwt": jwt}, f.last("/v1/auth/k8s/login").body)
	}
}

func TestTokenLogin(t *testing.T) {
	f := newFakeVault(t)
	f.handle("/v1/auth/token/lookup-self", answer(200, `{"data":{"accessor":"acc-1","ttl":120,"renewable":true,"policies":["default","gw"],"entity_id":""}}`))
	c := Config{Method: Token, TokenFile: filepath.Join(t.TempDir(), "token")}
	require.NoError(t, os.WriteFile(c.TokenFile, []byte("hvs.given\n"), 0o600))
	client := f.client()
	secret, err := New(c, hclog.NewNullLogger()).Login(t.Context(), client)
	require.NoError(t, err)
	require.Equal(t, "hvs.given", client.Token())
	require.Equal(t, "acc-1", secret.Auth.Accessor)
	require.Equal(t, 120, secret.Auth.LeaseDuration)
	require.True(t, secret.Auth.Renewable)
	require.Equal(t, "hvs.given", f.last("/v1/auth/token/lookup-self").token)

	f.handle("/v1/auth/token/lookup-self", answer(403, `{"errors":["permission denied"]}`))
	_, err = New(c, hclog.NewNullLogger()).Login(t.Context(), f.client())
	require.ErrorIs(t, err, ErrCredentialsRefused)
	require.EqualError(t, err, "login refused: token login at auth/token: permission denied: check "+c.TokenFile+": the token may be wrong, expired or revoked")
}

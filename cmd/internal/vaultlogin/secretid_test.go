package vaultlogin

import (
	"os"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"
)

func TestCheckCreationPath(t *testing.T) {
	for _, tc := range []struct {
		mount, path string
		ok          bool
	}{
		{"approle", "auth/approle/role/gw1/secret-id", true},
		{"approle/", "auth/approle/role/gw1/secret-id", true},
		{"team/approle", "auth/team/approle/role/laptop-7/secret-id", true},
		{"approle", "auth/other/role/gw1/secret-id", false},     // a secret id of another mount
		{"approle", "auth/approle/role/gw1/role-id", false},     // not a secret id
		{"approle", "auth/approle/role//secret-id", false},      // no role
		{"approle", "auth/approle/role/a/b/secret-id", false},   // not a role name
		{"approle", "auth/approle/role/gw1/secret-id/x", false}, // something below it
		{"approle", "sys/wrapping/wrap", false},                 // anything anyone wrapped
		{"approle", "auth/token/create", false},                 // a token
		{"approle", "", false},
	} {
		t.Run(tc.mount+" "+tc.path, func(t *testing.T) {
			err := CheckCreationPath(tc.mount, tc.path)
			if tc.ok {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrWrappingMismatch)
			require.True(t, Final(err))
		})
	}
}

// wrappedVault is a fake Vault whose sys/wrapping/lookup says the token
// was made at creationPath, and whose unwrap gives secret id "unwrapped-id".
func wrappedVault(t *testing.T, creationPath string) *fakeVault {
	f := newFakeVault(t)
	f.handle("/v1/sys/wrapping/lookup", answer(200, `{"data":{"creation_path":"`+creationPath+`","creation_time":"2026-11-25T14:00:00Z","creation_ttl":300}}`))
	f.handle("/v1/sys/wrapping/unwrap", answer(200, `{"data":{"secret_id":"unwrapped-id","secret_id_accessor":"a","secret_id_ttl":0}}`))
	f.handle("/v1/auth/approle/login", answer(200, loginOK))
	return f
}

func TestWrappedSecretID(t *testing.T) {
	f := wrappedVault(t, "auth/approle/role/gw1/secret-id")
	c := appRoleFiles(t, "hvs.wrapping", 0o600)
	l := New(c, hclog.NewNullLogger())

	_, err := l.Login(t.Context(), f.client())
	require.NoError(t, err)
	require.Equal(t, []string{"/v1/sys/wrapping/lookup", "/v1/sys/wrapping/unwrap", "/v1/auth/approle/login"}, f.paths())
	require.Equal(t, map[string]any{"token": "hvs.wrapping"}, f.last("/v1/sys/wrapping/lookup").body)
	require.Equal(t, "hvs.wrapping", f.last("/v1/sys/wrapping/unwrap").token, "unwrapped with the wrapping token itself")
	require.Equal(t, "unwrapped-id", f.last("/v1/auth/approle/login").body["secret_id"])
	require.Empty(t, f.last("/v1/auth/approle/login").token)

	// The file still holds the token, now used: the next login uses the
	// secret id it held.
	_, err = l.Login(t.Context(), f.client())
	require.NoError(t, err)
	require.Equal(t, []string{"/v1/sys/wrapping/lookup", "/v1/sys/wrapping/unwrap", "/v1/auth/approle/login", "/v1/auth/approle/login"}, f.paths())
	require.Equal(t, "unwrapped-id", f.last("/v1/auth/approle/login").body["secret_id"])

	// A new wrapping token in the file is unwrapped.
	require.NoError(t, os.WriteFile(c.SecretIDFile, []byte("hvs.wrapping-2"), 0o600))
	_, err = l.Login(t.Context(), f.client())
	require.NoError(t, err)
	require.Equal(t, "hvs.wrapping-2", f.last("/v1/sys/wrapping/unwrap").token)
}

// TestWrappedSecretIDFromElsewhere: a wrapping token that something other
// than the AppRole mount's secret-id endpoint made is never unwrapped, and
// no login is tried.
func TestWrappedSecretIDFromElsewhere(t *testing.T) {
	for _, creationPath := range []string{"sys/wrapping/wrap", "auth/other/role/gw1/secret-id", "auth/token/create"} {
		t.Run(creationPath, func(t *testing.T) {
			f := wrappedVault(t, creationPath)
			c := appRoleFiles(t, "hvs.planted", 0o600)
			_, err := New(c, hclog.NewNullLogger()).Login(t.Context(), f.client())
			require.ErrorIs(t, err, ErrWrappingMismatch)
			require.True(t, Final(err))
			require.EqualError(t, err, "the secret id file "+c.SecretIDFile+" holds a response-wrapping token, left unwrapped: "+
				"response-wrapping token not made for this login: it was made by \""+creationPath+"\", not by auth/approle/role/<role>/secret-id: "+
				"ask for a new one with `vault write -wrap-ttl=... -f auth/approle/role/<role>/secret-id`")
			require.Equal(t, []string{"/v1/sys/wrapping/lookup"}, f.paths())
		})
	}
}

func TestSecretIDLookup(t *testing.T) {
	for _, tc := range []struct {
		name     string
		content  string
		code     int
		resp     string
		want     error // nil: transient
		contains string
		login    bool // the content is logged in with as the secret id
	}{
		{"a plain secret id", "6f8a2c1e-secret", 400, `{"errors":["wrapping token is not valid or does not exist"]}`, nil, "", true},
		{"a wrapping token used or expired", "hvs.used", 400, `{"errors":["wrapping token is not valid or does not exist"]}`, ErrCredentialsRefused,
			"is not valid (Vault said: wrapping token is not valid or does not exist): it expired, or it was unwrapped already — if not by this daemon, someone else may hold the secret id", false},
		{"Vault sealed", "hvs.wrapping", 503, `{"errors":["Vault is sealed"]}`, nil, "as a response-wrapping token: ", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeVault(t)
			f.handle("/v1/sys/wrapping/lookup", answer(tc.code, tc.resp))
			f.handle("/v1/auth/approle/login", answer(200, loginOK))
			_, err := New(appRoleFiles(t, tc.content, 0o600), hclog.NewNullLogger()).Login(t.Context(), f.client())
			if tc.login {
				require.NoError(t, err)
				require.Equal(t, tc.content, f.last("/v1/auth/approle/login").body["secret_id"])
				return
			}
			require.ErrorContains(t, err, tc.contains)
			if tc.want != nil {
				require.ErrorIs(t, err, tc.want)
			}
			require.Equal(t, tc.want != nil, Final(err))
			require.Equal(t, []string{"/v1/sys/wrapping/lookup"}, f.paths(), "no unwrap, no login")
		})
	}
}

func TestUnwrapRefused(t *testing.T) {
	f := wrappedVault(t, "auth/approle/role/gw1/secret-id")
	f.handle("/v1/sys/wrapping/unwrap", answer(400, `{"errors":["wrapping token is not valid or does not exist"]}`))
	c := appRoleFiles(t, "hvs.raced", 0o600)
	_, err := New(c, hclog.NewNullLogger()).Login(t.Context(), f.client())
	require.ErrorIs(t, err, ErrCredentialsRefused)
	require.EqualError(t, err, "login refused: unwrap the secret id in "+c.SecretIDFile+": wrapping token is not valid or does not exist: ask for a new wrapped secret id")
}

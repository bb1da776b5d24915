package vaultlogin

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCLIToken(t *testing.T) {
	withToken := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(withToken, ".vault-token"), []byte("hvs.fromfile\n"), 0o600))
	empty := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(empty, ".vault-token"), nil, 0o600))
	for _, tc := range []struct {
		name, env, home, want, err string
	}{
		{name: "VAULT_TOKEN first", env: "hvs.fromenv", home: withToken, want: "hvs.fromenv"},
		{name: "token helper file", home: withToken, want: "hvs.fromfile"},
		{name: "none", home: t.TempDir(), err: "no VAULT_TOKEN and no "},
		{name: "empty file", home: empty, err: "is empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := CLIToken(func(k string) string {
				if k == "VAULT_TOKEN" {
					return tc.env
				}
				return ""
			}, func() (string, error) { return tc.home, nil })
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				require.True(t, errors.Is(err, ErrCredentialsUnreadable))
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

package device

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestFilesInstall(t *testing.T) {
	priv, gwPriv := mustKey(t), mustKey(t)
	l, err := ParseIssue(issueAnswer(priv.PublicKey(), gwPriv.PublicKey()), priv.PublicKey(), time.Now())
	require.NoError(t, err)
	dir := t.TempDir()
	conf := filepath.Join(dir, "wg0.conf")
	require.NoError(t, os.WriteFile(conf, []byte("old, world-readable"), 0o644))

	require.NoError(t, Files{Config: conf}.Install(t.Context(), &Grant{Lease: l, Private: priv}))
	text, err := l.WGQuick(priv).Render()
	require.NoError(t, err)
	for path, want := range map[string]string{
		conf:                          text,
		filepath.Join(dir, "wg0.pem"): l.Certificate,
	} {
		st, err := os.Stat(path)
		require.NoError(t, err)
		require.Equal(t, os.FileMode(0o600), st.Mode().Perm(), path)
		got, err := os.ReadFile(path)
		require.NoError(t, err)
		require.Equal(t, want, string(got))
	}
	left, err := filepath.Glob(filepath.Join(dir, ".*"))
	require.NoError(t, err)
	require.Empty(t, left, "no temporary files left")

	err = Files{Config: filepath.Join(dir, "missing", "wg0.conf")}.Install(t.Context(), &Grant{Lease: l, Private: priv})
	require.ErrorContains(t, err, "missing/wg0.pem")
}

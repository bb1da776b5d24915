package secretfile

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"
)

func TestRead(t *testing.T) {
	for _, tc := range []struct {
		name string
		mode os.FileMode
		warn bool
	}{
		{"owner only", 0o600, false},
		{"read-only for the owner", 0o400, false},
		{"readable by the group", 0o640, true},
		{"readable by everyone", 0o644, true},
		{"writable by others", 0o602, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "secret-id")
			require.NoError(t, os.WriteFile(path, []byte("  s3cret\n"), 0o600))
			require.NoError(t, os.Chmod(path, tc.mode)) // past the umask
			var log bytes.Buffer
			got, err := Read(path, hclog.New(&hclog.LoggerOptions{Output: &log}))
			require.NoError(t, err)
			require.Equal(t, "s3cret", got)
			if !tc.warn {
				require.Empty(t, log.String())
				return
			}
			require.Contains(t, log.String(), "[WARN]  credential file is accessible to other users: make it mode 0600")
			require.Contains(t, log.String(), "file="+path)
			require.Contains(t, log.String(), "mode="+fmt.Sprintf("%04o", tc.mode))
		})
	}
}

func TestReadMissing(t *testing.T) {
	var log bytes.Buffer
	_, err := Read(filepath.Join(t.TempDir(), "none"), hclog.New(&hclog.LoggerOptions{Output: &log}))
	require.ErrorIs(t, err, os.ErrNotExist)
	require.Empty(t, log.String())
}

// Package secretfile reads the daemons' credential files (an AppRole role
// and secret id, a service-account token, a Vault token, a WireGuard
// private key) and warns when other users of the machine could read or
// change one.
package secretfile

import (
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/hashicorp/go-hclog"
)

// Exposed reports whether mode lets the file's group or other users read,
// write or run it: a credential file should be mode 0600 (or 0400).
func Exposed(mode fs.FileMode) bool { return mode.Perm()&0o077 != 0 }

// Read returns the content of the credential file at path without
// surrounding space. It logs a warning through logger when the file is
// readable (or writable) by its group or by others; the file is read all
// the same, so that a daemon is not stopped by a mode it has always had.
func Read(path string, logger hclog.Logger) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	Check(path, logger)
	return strings.TrimSpace(string(b)), nil
}

// Check logs a warning through logger when the file at path is exposed
// (see Exposed). A file that cannot be examined is left to whoever reads it.
func Check(path string, logger hclog.Logger) {
	st, err := os.Stat(path)
	if err != nil || !Exposed(st.Mode()) {
		return
	}
	logger.Warn("credential file is accessible to other users: make it mode 0600 (chmod 600) and owned by the daemon's user",
		"file", path, "mode", fmt.Sprintf("%04o", st.Mode().Perm()))
}

package vaultlogin

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	vault "github.com/hashicorp/vault/api"
)

// CLIToken is the token the Vault CLI would use: VAULT_TOKEN when set,
// else the one `vault login` stored with Vault's default token helper in
// ~/.vault-token. (An external token helper configured in ~/.vault is not
// run: pass its token with VAULT_TOKEN="$(vault print token)".) getenv and
// home are os.Getenv and os.UserHomeDir.
func CLIToken(getenv func(string) string, home func() (string, error)) (string, error) {
	if t := strings.TrimSpace(getenv(vault.EnvVaultToken)); t != "" {
		return t, nil
	}
	dir, err := home()
	if err != nil {
		return "", fmt.Errorf("%w: no VAULT_TOKEN, and no home directory for ~/.vault-token: %v", ErrCredentialsUnreadable, err)
	}
	path := filepath.Join(dir, ".vault-token")
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("%w: no VAULT_TOKEN and no %s: log in first (vault login -method=oidc, ldap, userpass, …)", ErrCredentialsUnreadable, path)
	}
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrCredentialsUnreadable, err)
	}
	t := strings.TrimSpace(string(b))
	if t == "" {
		return "", fmt.Errorf("%w: %s is empty: log in first (vault login)", ErrCredentialsUnreadable, path)
	}
	return t, nil
}

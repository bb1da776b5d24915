package vaultlogin

import (
	"context"
	"fmt"
	"strings"

	vault "github.com/hashicorp/vault/api"
)

// CheckCreationPath reports whether path, the creation path of a
// response-wrapping token, is the secret-id endpoint of a role of the
// AppRole mount: auth/<mount>/role/<role>/secret-id. Only such a token
// wraps a secret id made for this login; a token wrapping anything else
// (a secret id of another mount, a token, a secret an attacker chose) is
// refused with ErrWrappingMismatch before it is unwrapped.
func CheckCreationPath(mount, path string) error {
	mount = strings.Trim(mount, "/")
	role, ok := strings.CutPrefix(path, "auth/"+mount+"/role/")
	if ok {
		role, ok = strings.CutSuffix(role, "/secret-id")
	}
	if !ok || role == "" || strings.Contains(role, "/") {
		return fmt.Errorf("%w: it was made by %q, not by auth/%s/role/<role>/secret-id", ErrWrappingMismatch, path, mount)
	}
	return nil
}

// looksLikeToken reports whether s has the form of a Vault service token
// (hvs.… since Vault 1.10, s.… before), as a wrapping token has; an AppRole
// secret id is a UUID.
func looksLikeToken(s string) bool {
	return strings.HasPrefix(s, "hvs.") || strings.HasPrefix(s, "s.")
}

// appRoleSecretID reads the secret id file. A response-wrapping token in
// it is checked (CheckCreationPath) and unwrapped, once: while the file
// holds the same token, later logins use the secret id it held.
func (l *Login) appRoleSecretID(ctx context.Context, client *vault.Client) (string, error) {
	c := &l.cfg
	content, err := l.read("secret id", c.SecretIDFile)
	if err != nil {
		return "", err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.secretID != "" && l.wrapping == content {
		return l.secretID, nil
	}
	lookup, err := client.Logical().WriteWithContext(ctx, "sys/wrapping/lookup", map[string]any{"token": content})
	if re, refused := Refusal(err); refused {
		if looksLikeToken(content) {
			return "", fmt.Errorf("%w: the response-wrapping token in %s is not valid (Vault said: %s): it expired, or it was unwrapped already — "+
				"if not by this daemon, someone else may hold the secret id: destroy it and ask for a new wrapped secret id",
				ErrCredentialsRefused, c.SecretIDFile, Said(re))
		}
		return content, nil // not a wrapping token: the secret id itself
	}
	if err != nil {
		return "", fmt.Errorf("look up the secret id in %s as a response-wrapping token: %w", c.SecretIDFile, err)
	}
	if lookup == nil {
		return content, nil
	}
	creationPath, _ := lookup.Data["creation_path"].(string)
	if err := CheckCreationPath(c.AppRoleMount, creationPath); err != nil {
		return "", fmt.Errorf("the secret id file %s holds a response-wrapping token, left unwrapped: %w: "+
			"ask for a new one with `vault write -wrap-ttl=... -f auth/%s/role/<role>/secret-id`",
			c.SecretIDFile, err, strings.Trim(c.AppRoleMount, "/"))
	}
	// The wrapping token goes as the unwrapping request's own token, on a
	// client of its own: client stays without one for the login.
	unwrapper, err := client.CloneWithHeaders()
	if err != nil {
		return "", fmt.Errorf("vault client: %w", err)
	}
	unwrapper.ClearToken()
	unwrapped, err := unwrapper.Logical().UnwrapWithContext(ctx, content)
	if err != nil {
		if re, refused := Refusal(err); refused {
			return "", fmt.Errorf("%w: unwrap the secret id in %s: %s: ask for a new wrapped secret id", ErrCredentialsRefused, c.SecretIDFile, Said(re))
		}
		return "", fmt.Errorf("unwrap the secret id in %s: %w", c.SecretIDFile, err)
	}
	var id string
	if unwrapped != nil {
		id, _ = unwrapped.Data["secret_id"].(string)
	}
	if id == "" {
		return "", fmt.Errorf("%w: the response-wrapped secret in %s has no secret_id", ErrCredentialsRefused, c.SecretIDFile)
	}
	l.wrapping, l.secretID = content, id
	l.logger.Info("unwrapped the response-wrapped secret id", "file", c.SecretIDFile, "creation_path", creationPath)
	return id, nil
}

package backend

import (
	"strings"

	"github.com/hashicorp/vault/sdk/logical"
)

// loginName is the common name of a role whose common_name_template is
// empty (the default): the name an operator would recognise for the caller.
//
//   - An entity an operator named (identity/entity name=...): that name.
//   - An entity Vault created at the first login (named entity_<8 hex
//     digits>, which means nothing): its login alias's name: the AppRole
//     role's name (its alias name is the role id, a UUID), a Kubernetes
//     service account as namespace/name (its alias name is the account's
//     UID by default), otherwise the alias name itself: a TLS client
//     certificate's CN, a user name (userpass, LDAP, GitHub, OIDC's
//     user_claim), a token's entity alias.
//   - A token without an entity (a root token, `vault token create`): its
//     display name ("root", "token", or "token-<display name>" when the
//     token was created with one).
//
// An entity with several aliases takes the alias of the auth method the
// token's display name starts with, else its first alias.
func loginName(entity *logical.Entity, displayName string) string {
	if entity == nil {
		return displayName
	}
	if entity.Name != "" && !generatedEntityName(entity.Name) {
		return entity.Name
	}
	alias := loginAlias(entity.Aliases, displayName)
	if alias == nil {
		return displayName
	}
	if name := aliasName(alias); name != "" {
		return name
	}
	return displayName
}

// generatedEntityName reports whether name is one Vault gives an entity it
// creates on a first login: "entity_" and 8 lowercase hex digits.
func generatedEntityName(name string) bool {
	digits, ok := strings.CutPrefix(name, "entity_")
	if !ok || len(digits) != 8 {
		return false
	}
	return strings.Trim(digits, "0123456789abcdef") == ""
}

// loginAlias picks the alias of the login that made the token: the one of
// the auth method whose type starts the token's display name (Vault names a
// token after the mount it logged in through), or else the first.
func loginAlias(aliases []*logical.Alias, displayName string) *logical.Alias {
	if len(aliases) == 0 {
		return nil
	}
	for _, a := range aliases {
		if a.MountType != "" && (displayName == a.MountType || strings.HasPrefix(displayName, a.MountType+"-")) {
			return a
		}
	}
	return aliases[0]
}

// aliasName is the name an alias stands for (see loginName).
func aliasName(a *logical.Alias) string {
	switch a.MountType {
	case "approle":
		if role := a.Metadata["role_name"]; role != "" {
			return role
		}
	case "kubernetes":
		ns, sa := a.Metadata["service_account_namespace"], a.Metadata["service_account_name"]
		if ns != "" && sa != "" {
			return ns + "/" + sa
		}
	}
	return a.Name
}

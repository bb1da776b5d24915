package backend

import (
	"errors"
	"fmt"
	"strings"

	"github.com/hashicorp/vault/sdk/helper/identitytpl"
	"github.com/hashicorp/vault/sdk/logical"
)

// A caller is who asked for a certificate.
type caller struct {
	// key identifies the caller for max_active_per_identity and for the
	// rule that a key belongs to one identity: the entity id, or, for a
	// token without an entity, the token itself (see tokenIdentity).
	key         string
	entityID    string
	displayName string
	authMounts  []string
	commonName  string
}

// errNoIdentity is returned by identify for a request that names neither an
// entity nor a token; Vault sends none such to an authenticated path.
var errNoIdentity = errors.New("the request carries neither an entity nor a token")

// errTemplate is wrapped by identify when the role's template refers to
// identity data the caller does not have.
var errTemplate = errors.New("common_name_template")

// identify works out who req's caller is and the common name tmpl gives it;
// an empty tmpl gives the login's name (see loginName).
func (b *backend) identify(req *logical.Request, tmpl string) (*caller, error) {
	c := &caller{entityID: req.EntityID, displayName: req.DisplayName}
	if req.EntityID == "" {
		key, ok := tokenIdentity(req)
		if !ok {
			return nil, errNoIdentity
		}
		c.key, c.commonName = key, loginName(nil, req.DisplayName)
		return c, nil
	}
	c.key = "entity:" + req.EntityID
	entity, err := b.System().EntityInfo(req.EntityID)
	if err != nil {
		return nil, fmt.Errorf("look up entity %s: %w", req.EntityID, err)
	}
	if entity == nil {
		c.commonName = req.DisplayName
		return c, nil
	}
	for _, a := range entity.Aliases {
		c.authMounts = append(c.authMounts, a.MountType+":"+a.MountAccessor)
	}
	if tmpl == "" {
		c.commonName = loginName(entity, req.DisplayName)
		return c, nil
	}
	var groups []*logical.Group
	if strings.Contains(tmpl, "identity.groups") {
		if groups, err = b.System().GroupsForEntity(req.EntityID); err != nil {
			return nil, fmt.Errorf("look up groups of entity %s: %w", req.EntityID, err)
		}
	}
	_, cn, err := identitytpl.PopulateString(identitytpl.PopulateStringInput{
		String:      tmpl,
		Entity:      entity,
		Groups:      groups,
		NamespaceID: entity.NamespaceID,
		Mode:        identitytpl.ACLTemplating,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %s has no value for %q (%v)", errTemplate, callerName(req), tmpl, err)
	}
	c.commonName = cn
	if strings.TrimSpace(cn) == "" {
		c.commonName = req.DisplayName
	}
	return c, nil
}

// tokenIdentity is the identity of a token without an entity (a root token,
// or one made by `vault token create`): the token itself, never its display
// name, which such tokens share ("token", "root"). A service token is named
// by its accessor; a batch token has none and is named by the token as
// Vault hands it to a plugin, salted and hashed for this mount.
func tokenIdentity(req *logical.Request) (string, bool) {
	switch {
	case req.ClientTokenAccessor != "":
		return "accessor:" + req.ClientTokenAccessor, true
	case req.ClientToken != "":
		return "token-hash:" + req.ClientToken, true
	}
	return "", false
}

func callerName(req *logical.Request) string {
	if req.DisplayName != "" {
		return "the caller " + req.DisplayName
	}
	return "the caller"
}

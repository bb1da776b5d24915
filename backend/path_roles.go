package backend

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/helper/identitytpl"
	"github.com/hashicorp/vault/sdk/helper/locksutil"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/wgquick"
)

// Defaults of a role.
const (
	defaultRoleTTL = time.Hour
	// defaultCommonNameTemplate, empty, names a certificate after the
	// caller's login (loginName).
	defaultCommonNameTemplate = ""
)

// roleEntry is a stored role: who may get a certificate for which gateway,
// for how long.
type roleEntry struct {
	Name                 string        `json:"name"`
	Gateway              string        `json:"gateway"`
	TTL                  time.Duration `json:"ttl"`
	MaxTTL               time.Duration `json:"max_ttl"`
	CommonNameTemplate   string        `json:"common_name_template"`
	AllowGeneratedKeys   bool          `json:"allow_generated_keys"`
	MaxActivePerIdentity int           `json:"max_active_per_identity"`
}

func (b *backend) getRole(ctx context.Context, s logical.Storage, name string) (*roleEntry, error) {
	return cached(ctx, b.config, b.config.roles, name, loadRole, s)
}

func loadRole(ctx context.Context, s logical.Storage, name string) (*roleEntry, error) {
	var r roleEntry
	ok, err := getJSON(ctx, s, roleStoragePrefix+name, &r)
	if err != nil || !ok {
		return nil, err
	}
	return &r, nil
}

func pathRoles(b *backend) []*framework.Path {
	return []*framework.Path{
		{
			Pattern: "roles/" + framework.GenericNameRegex("name"),
			DisplayAttrs: &framework.DisplayAttributes{
				OperationPrefix: operationPrefixWireGuard,
				OperationSuffix: "role",
			},
			Fields: map[string]*framework.FieldSchema{
				"name":    {Type: framework.TypeString, Description: "Name of the role.", Required: true},
				"gateway": {Type: framework.TypeString, Description: "The gateway certificates of this role are for."},
				"ttl": {
					Type:        framework.TypeDurationSecond,
					Description: "Lifetime of a certificate when the request names none.",
					Default:     int(defaultRoleTTL.Seconds()),
				},
				"max_ttl": {
					Type:        framework.TypeDurationSecond,
					Description: "Longest lifetime a request may ask for; 0 means the mount's maximum lease TTL.",
				},
				"common_name_template": {
					Type:        framework.TypeString,
					Description: "Vault identity template for the certificate's common name. Empty (the default): the entity's name when an operator named it, else the login's: the AppRole role, the Kubernetes namespace/service account, the TLS certificate's CN, the user; a token without an entity gets its display name.",
					Default:     defaultCommonNameTemplate,
				},
				"allow_generated_keys": {
					Type:        framework.TypeBool,
					Description: "Let requests omit public_key and have the engine generate the key pair (the private key is returned once and never stored).",
				},
				"max_active_per_identity": {
					Type:        framework.TypeInt,
					Description: "Live certificates one identity may hold; issuing past it revokes the oldest. 0 is unlimited.",
				},
			},
			ExistenceCheck: b.pathRoleExists,
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ReadOperation:   &framework.PathOperation{Callback: b.pathRoleRead},
				logical.CreateOperation: &framework.PathOperation{Callback: b.pathRoleWrite},
				logical.UpdateOperation: &framework.PathOperation{Callback: b.pathRoleWrite},
				logical.DeleteOperation: &framework.PathOperation{Callback: b.pathRoleDelete},
			},
			HelpSynopsis:    pathRoleHelpSyn,
			HelpDescription: pathRoleHelpDesc,
		},
		{
			Pattern: "roles/?$",
			DisplayAttrs: &framework.DisplayAttributes{
				OperationPrefix: operationPrefixWireGuard,
				OperationVerb:   "list",
				OperationSuffix: "roles",
			},
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ListOperation: &framework.PathOperation{Callback: b.pathRoleList},
			},
			HelpSynopsis: "List the roles.",
		},
	}
}

func (b *backend) pathRoleExists(ctx context.Context, req *logical.Request, d *framework.FieldData) (bool, error) {
	r, err := b.getRole(ctx, req.Storage, d.Get("name").(string))
	return r != nil, err
}

func (b *backend) pathRoleRead(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	r, err := b.getRole(ctx, req.Storage, d.Get("name").(string))
	if err != nil || r == nil {
		return nil, err
	}
	return &logical.Response{Data: map[string]any{
		"name":                    r.Name,
		"gateway":                 r.Gateway,
		"ttl":                     int64(r.TTL.Seconds()),
		"max_ttl":                 int64(r.MaxTTL.Seconds()),
		"common_name_template":    r.CommonNameTemplate,
		"allow_generated_keys":    r.AllowGeneratedKeys,
		"max_active_per_identity": r.MaxActivePerIdentity,
	}}, nil
}

func (b *backend) pathRoleWrite(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name := d.Get("name").(string)
	lock := locksutil.LockForKey(b.locks, roleStoragePrefix+name)
	lock.Lock()
	defer lock.Unlock()

	old, err := b.getRole(ctx, req.Storage, name)
	if err != nil {
		return nil, err
	}
	r := &roleEntry{
		Name:               name,
		TTL:                defaultRoleTTL,
		CommonNameTemplate: defaultCommonNameTemplate,
	}
	if old != nil {
		*r = *old
	}
	if v, ok := d.GetOk("gateway"); ok {
		r.Gateway = v.(string)
	}
	if v, ok := d.GetOk("ttl"); ok {
		r.TTL = time.Duration(v.(int)) * time.Second
	}
	if v, ok := d.GetOk("max_ttl"); ok {
		r.MaxTTL = time.Duration(v.(int)) * time.Second
	}
	if v, ok := d.GetOk("common_name_template"); ok {
		r.CommonNameTemplate = v.(string)
	}
	if v, ok := d.GetOk("allow_generated_keys"); ok {
		r.AllowGeneratedKeys = v.(bool)
	}
	if v, ok := d.GetOk("max_active_per_identity"); ok {
		r.MaxActivePerIdentity = v.(int)
	}

	if r.Gateway == "" {
		return logical.ErrorResponse("gateway: is required"), nil
	}
	gw, err := b.getGateway(ctx, req.Storage, r.Gateway)
	if err != nil {
		return nil, err
	}
	if gw == nil {
		return logical.ErrorResponse("gateway: unknown gateway %q (write gateways/%s first)", r.Gateway, r.Gateway), nil
	}
	if msg := r.validate(); msg != "" {
		return logical.ErrorResponse(msg), nil
	}
	if err := putJSON(ctx, req.Storage, roleStoragePrefix+name, r); err != nil {
		return nil, err
	}
	store(b.config, b.config.roles, name, r)
	return nil, nil
}

// validate returns what is wrong with the entry, naming the field, or "".
func (r *roleEntry) validate() string {
	if r.TTL <= 0 {
		return "ttl: must be positive"
	}
	if r.MaxTTL < 0 {
		return "max_ttl: must not be negative"
	}
	if r.MaxTTL > 0 && r.TTL > r.MaxTTL {
		return fmt.Sprintf("ttl: %s is longer than max_ttl %s", r.TTL, r.MaxTTL)
	}
	if r.MaxActivePerIdentity < 0 {
		return "max_active_per_identity: must not be negative"
	}
	if r.CommonNameTemplate == "" {
		return ""
	}
	if err := wgquick.CheckText(r.CommonNameTemplate); err != nil {
		return fmt.Sprintf("common_name_template: %v", err)
	}
	if _, _, err := identitytpl.PopulateString(identitytpl.PopulateStringInput{
		String: r.CommonNameTemplate, ValidityCheckOnly: true, Mode: identitytpl.ACLTemplating,
	}); err != nil {
		return fmt.Sprintf("common_name_template: %s", err)
	}
	return ""
}

func (b *backend) pathRoleDelete(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name := d.Get("name").(string)
	if err := deleteKey(ctx, req.Storage, roleStoragePrefix+name); err != nil {
		return nil, err
	}
	store[roleEntry](b.config, b.config.roles, name, nil)
	return nil, nil
}

func (b *backend) pathRoleList(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	names, err := req.Storage.List(ctx, roleStoragePrefix)
	if err != nil {
		return nil, err
	}
	return logical.ListResponse(names), nil
}

const pathRoleHelpSyn = `Manage the roles devices get certificates through.`

const pathRoleHelpDesc = `
A role names the gateway its certificates are for, their lifetime (ttl, capped
by max_ttl), how the certificate's common name is made from the caller's Vault
identity (common_name_template, e.g. "{{identity.entity.name}}" or
"{{identity.entity.aliases.<mount accessor>.metadata.service_account_name}}";
empty, the default, names the caller after its login: an entity's name when
an operator gave it one, else the AppRole role, the Kubernetes
namespace/service account, the TLS certificate's CN or the user name),
whether the engine may generate key pairs (allow_generated_keys), and how many
live certificates one identity may hold (max_active_per_identity; issuing past
it revokes the oldest, so 2 allows rotation with overlap).
`

package backend

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/helper/identitytpl"
	"github.com/hashicorp/vault/sdk/helper/locksutil"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/wgpolicy"
	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/wgquick"
)

// Defaults of a role.
const (
	defaultRoleTTL = time.Hour
	// defaultCommonNameTemplate, empty, names a certificate after the
	// caller's login (loginName).
	defaultCommonNameTemplate = ""
)

// Fields of a role's access policy and routes.
const (
	fieldAllowedDestinations = "allowed_destinations"
	fieldAllowedIPs          = "allowed_ips"
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
	// AllowedDestinations is the access policy signed into the role's
	// certificates, in canonical form (wgpolicy.Destination.String); empty
	// means none: the device reaches everything its gateway routes.
	AllowedDestinations []string `json:"allowed_destinations,omitempty"`
	// AllowedIPs, if set, are the routes the role's devices send into the
	// tunnel (wg-quick AllowedIPs), in place of the destinations' prefixes
	// or the gateway's allowed_ips.
	AllowedIPs []string `json:"allowed_ips,omitempty"`
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
				fieldAllowedDestinations: {
					Type: framework.TypeCommaStringSlice,
					Description: "What the role's devices may reach through the gateway, signed into their certificates: " +
						"prefixes, each optionally with :port/tcp, :port/udp, :low-high/tcp|udp or :icmp " +
						"(10.20.0.0/24, 10.30.0.5/32:443/tcp, fd00::/64:icmp). Empty (the default): everything the gateway routes.",
				},
				fieldAllowedIPs: {
					Type: framework.TypeCommaStringSlice,
					Description: "Routes the role's devices send into the tunnel (wg-quick AllowedIPs). " +
						"Empty (the default): the prefixes of allowed_destinations, or without them the gateway's allowed_ips.",
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
		fieldAllowedDestinations:  nonNil(r.AllowedDestinations),
		fieldAllowedIPs:           nonNil(r.AllowedIPs),
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
	if v, ok := d.GetOk(fieldAllowedDestinations); ok {
		canonical, msg := canonicalDestinations(v.([]string))
		if msg != "" {
			return logical.ErrorResponse("%s", msg), nil
		}
		r.AllowedDestinations = canonical
	}
	if v, ok := d.GetOk(fieldAllowedIPs); ok {
		r.AllowedIPs = v.([]string)
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
	if _, err := r.destinations(); err != nil {
		return fmt.Sprintf("%s: %v", fieldAllowedDestinations, err)
	}
	for _, s := range r.AllowedIPs {
		if _, err := netip.ParsePrefix(s); err != nil {
			return fmt.Sprintf("%s: %q is not a CIDR", fieldAllowedIPs, s)
		}
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

// destinations parses the role's allowed_destinations: nil when the role
// has none.
func (r *roleEntry) destinations() ([]wgpolicy.Destination, error) {
	if len(r.AllowedDestinations) == 0 {
		return nil, nil
	}
	return wgpolicy.Parse(r.AllowedDestinations)
}

// canonicalDestinations parses a role's allowed_destinations as written and
// returns their canonical text (sorted, without duplicates), or what is
// wrong, naming the field and the entry. Empty entries (a trailing comma)
// are malformed too: the list is a policy, and a typo must not pass.
func canonicalDestinations(entries []string) ([]string, string) {
	if len(entries) == 0 {
		return nil, ""
	}
	ds, err := wgpolicy.Parse(entries)
	if err != nil {
		return nil, fmt.Sprintf("%s: %v", fieldAllowedDestinations, err)
	}
	return texts(wgpolicy.Canonical(ds)), ""
}

// routes are the device's wg-quick AllowedIPs under the role: its
// allowed_ips when set, else the prefixes of its destinations ds (a split
// tunnel: the device routes only what it may reach), else the gateway's
// allowed_ips (by default its pools).
func (r *roleEntry) routes(gw *gatewayEntry, ds []wgpolicy.Destination) []string {
	switch {
	case len(r.AllowedIPs) > 0:
		return r.AllowedIPs
	case len(ds) > 0:
		prefixes := wgpolicy.Prefixes(ds)
		out := make([]string, len(prefixes))
		for i, p := range prefixes {
			out[i] = p.String()
		}
		return out
	default:
		return gw.effectiveAllowedIPs()
	}
}

// texts is the canonical text of each destination, [] for none.
func texts(ds []wgpolicy.Destination) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.String()
	}
	return out
}

// nonNil is list, or an empty list for nil, so that a response shows [].
func nonNil(list []string) []string {
	if list == nil {
		return []string{}
	}
	return list
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

allowed_destinations is the access policy signed into the role's certificates:
what its devices may reach through the gateway, which enforces it (prefixes,
each optionally with :port/tcp, :port/udp, :low-high/tcp, :low-high/udp or
:icmp). Empty, the default, signs no policy: the device reaches everything the
gateway routes. A change applies to certificates issued afterwards; live ones
keep the rules they were signed with until they rotate (revoke role=<name> to
force it). The devices' wg-quick AllowedIPs are the destinations' prefixes
unless allowed_ips sets them (without destinations: the gateway's allowed_ips).
`

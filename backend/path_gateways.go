package backend

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/helper/locksutil"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/ippool"
	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/wgkey"
	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/wgquick"
)

// gatewayEntry is a stored gateway.
type gatewayEntry struct {
	Name                string   `json:"name"`
	Endpoint            string   `json:"endpoint"`
	PublicKey           string   `json:"public_key"`
	Address             []string `json:"address"`
	AddressPool         []string `json:"address_pool"`
	AllowedIPs          []string `json:"allowed_ips"`
	DNS                 []string `json:"dns"`
	MTU                 int      `json:"mtu"`
	PersistentKeepalive int      `json:"persistent_keepalive"`
}

// newPools builds one address pool per family from the entry.
func (g *gatewayEntry) newPools() ([]*ippool.Pool, error) {
	var v4, v6 []netip.Prefix
	for _, s := range g.AddressPool {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("address_pool: %w", err)
		}
		if p.Addr().Is4() {
			v4 = append(v4, p)
		} else {
			v6 = append(v6, p)
		}
	}
	var own []netip.Addr
	for _, s := range g.Address {
		if a, err := parseAddr(s); err == nil {
			own = append(own, a)
		}
	}
	var pools []*ippool.Pool
	for _, family := range [][]netip.Prefix{v4, v6} {
		if len(family) == 0 {
			continue
		}
		p, err := ippool.New(family, own)
		if err != nil {
			return nil, fmt.Errorf("address_pool: %w", err)
		}
		pools = append(pools, p)
	}
	return pools, nil
}

// parseAddr accepts an address with or without a prefix length.
func parseAddr(s string) (netip.Addr, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Addr(), nil
	}
	return netip.ParseAddr(s)
}

func (b *backend) getGateway(ctx context.Context, s logical.Storage, name string) (*gatewayEntry, error) {
	return cached(ctx, b.config, b.config.gateways, name, loadGateway, s)
}

// gatewayHandler handles a request on a gateway's sub-path.
type gatewayHandler func(context.Context, *logical.Request, *framework.FieldData, *gatewayEntry) (*logical.Response, error)

// withGateway makes h a handler of a gateways/:name/... path: the gateway
// is looked up first, and a name that is not a gateway is a caller error.
func (b *backend) withGateway(h gatewayHandler) framework.OperationFunc {
	return func(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
		name := d.Get("name").(string)
		gw, err := b.getGateway(ctx, req.Storage, name)
		if err != nil {
			return nil, err
		}
		if gw == nil {
			return logical.ErrorResponse("name: unknown gateway %q", name), nil
		}
		return h(ctx, req, d, gw)
	}
}

func loadGateway(ctx context.Context, s logical.Storage, name string) (*gatewayEntry, error) {
	var g gatewayEntry
	ok, err := getJSON(ctx, s, gatewayStoragePrefix+name, &g)
	if err != nil || !ok {
		return nil, err
	}
	return &g, nil
}

func pathGateways(b *backend) []*framework.Path {
	return []*framework.Path{
		{
			Pattern: "gateways/" + framework.GenericNameRegex("name"),
			DisplayAttrs: &framework.DisplayAttributes{
				OperationPrefix: operationPrefixWireGuard,
				OperationSuffix: "gateway",
			},
			Fields: map[string]*framework.FieldSchema{
				"name":       {Type: framework.TypeString, Description: "Name of the gateway.", Required: true},
				"endpoint":   {Type: framework.TypeString, Description: "Where devices reach the gateway, host:port."},
				"public_key": {Type: framework.TypeString, Description: "The gateway's WireGuard public key, base64."},
				"address": {
					Type:        framework.TypeCommaStringSlice,
					Description: "The gateway's own tunnel addresses (never handed to a device).",
				},
				"address_pool": {
					Type:        framework.TypeCommaStringSlice,
					Description: "CIDRs devices get their tunnel addresses from: at most one family each of IPv4 and IPv6 is used per device.",
				},
				"allowed_ips": {
					Type:        framework.TypeCommaStringSlice,
					Description: "Routes a device sends into the tunnel. Defaults to the address pools.",
				},
				"dns":                  {Type: framework.TypeCommaStringSlice, Description: "DNS servers for devices."},
				"mtu":                  {Type: framework.TypeInt, Description: "Tunnel MTU for devices; 0 leaves the default."},
				"persistent_keepalive": {Type: framework.TypeDurationSecond, Description: "Keepalive interval devices use towards the gateway; 0 disables."},
			},
			ExistenceCheck: b.pathGatewayExists,
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ReadOperation:   &framework.PathOperation{Callback: b.pathGatewayRead},
				logical.CreateOperation: &framework.PathOperation{Callback: b.pathGatewayWrite},
				logical.UpdateOperation: &framework.PathOperation{Callback: b.pathGatewayWrite},
				logical.DeleteOperation: &framework.PathOperation{Callback: b.pathGatewayDelete},
			},
			HelpSynopsis:    pathGatewayHelpSyn,
			HelpDescription: pathGatewayHelpDesc,
		},
		{
			Pattern: "gateways/?$",
			DisplayAttrs: &framework.DisplayAttributes{
				OperationPrefix: operationPrefixWireGuard,
				OperationVerb:   "list",
				OperationSuffix: "gateways",
			},
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ListOperation: &framework.PathOperation{Callback: b.pathGatewayList},
			},
			HelpSynopsis: "List the gateways.",
		},
	}
}

func (b *backend) pathGatewayExists(ctx context.Context, req *logical.Request, d *framework.FieldData) (bool, error) {
	g, err := b.getGateway(ctx, req.Storage, d.Get("name").(string))
	return g != nil, err
}

func (b *backend) pathGatewayRead(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	g, err := b.getGateway(ctx, req.Storage, d.Get("name").(string))
	if err != nil || g == nil {
		return nil, err
	}
	return &logical.Response{Data: map[string]any{
		"name":                 g.Name,
		"endpoint":             g.Endpoint,
		"public_key":           g.PublicKey,
		"address":              g.Address,
		"address_pool":         g.AddressPool,
		"allowed_ips":          g.effectiveAllowedIPs(),
		"dns":                  g.DNS,
		"mtu":                  g.MTU,
		"persistent_keepalive": g.PersistentKeepalive,
	}}, nil
}

// effectiveAllowedIPs is allowed_ips, or the pools when it is empty.
func (g *gatewayEntry) effectiveAllowedIPs() []string {
	if len(g.AllowedIPs) > 0 {
		return g.AllowedIPs
	}
	return g.AddressPool
}

func (b *backend) pathGatewayWrite(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name := d.Get("name").(string)
	lock := locksutil.LockForKey(b.locks, gatewayStoragePrefix+name)
	lock.Lock()
	defer lock.Unlock()

	old, err := b.getGateway(ctx, req.Storage, name)
	if err != nil {
		return nil, err
	}
	g := &gatewayEntry{Name: name}
	if old != nil {
		*g = *old
	}
	if v, ok := d.GetOk("endpoint"); ok {
		g.Endpoint = strings.TrimSpace(v.(string))
	}
	if v, ok := d.GetOk("public_key"); ok {
		g.PublicKey = strings.TrimSpace(v.(string))
	}
	for field, dst := range map[string]*[]string{
		"address": &g.Address, "address_pool": &g.AddressPool, "allowed_ips": &g.AllowedIPs, "dns": &g.DNS,
	} {
		if v, ok := d.GetOk(field); ok {
			*dst = trimAll(v.([]string))
		}
	}
	if v, ok := d.GetOk("mtu"); ok {
		g.MTU = v.(int)
	}
	if v, ok := d.GetOk("persistent_keepalive"); ok {
		g.PersistentKeepalive = v.(int)
	}
	if msg := g.validate(); msg != "" {
		return logical.ErrorResponse(msg), nil
	}
	if err := putJSON(ctx, req.Storage, gatewayStoragePrefix+name, g); err != nil {
		return nil, err
	}
	store(b.config, b.config.gateways, name, g)
	return nil, nil
}

func trimAll(in []string) []string {
	out := make([]string, 0, len(in))
	for _, s := range in {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// validate returns what is wrong with the entry, naming the field, or "".
func (g *gatewayEntry) validate() string {
	if g.Endpoint == "" {
		return "endpoint: is required (host:port where devices reach the gateway)"
	}
	host, port, err := net.SplitHostPort(g.Endpoint)
	if err != nil || host == "" {
		return fmt.Sprintf("endpoint: %q is not host:port", g.Endpoint)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Sprintf("endpoint: port %q is not a number from 1 to 65535", port)
	}
	if err := wgquick.CheckEndpoint(g.Endpoint); err != nil {
		return fmt.Sprintf("endpoint: %v", err)
	}
	if g.PublicKey == "" {
		return "public_key: is required (the gateway's WireGuard public key)"
	}
	if _, err := wgkey.ParsePublic(g.PublicKey); err != nil {
		return fmt.Sprintf("public_key: %s", err)
	}
	if len(g.AddressPool) == 0 {
		return "address_pool: at least one CIDR is required"
	}
	for _, s := range g.AddressPool {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return fmt.Sprintf("address_pool: %q is not a CIDR", s)
		}
		if p != p.Masked() {
			return fmt.Sprintf("address_pool: %q has host bits set; did you mean %s?", s, p.Masked())
		}
		if p.Addr().BitLen()-p.Bits() < 2 {
			return fmt.Sprintf("address_pool: %q is too small to hold devices", s)
		}
	}
	if _, err := g.newPools(); err != nil {
		return err.Error()
	}
	for _, s := range g.Address {
		if a, err := parseAddr(s); err != nil {
			return fmt.Sprintf("address: %q is not an IP address", s)
		} else if a.Zone() != "" {
			return fmt.Sprintf("address: %q has a zone", s)
		}
	}
	for _, s := range g.AllowedIPs {
		if _, err := netip.ParsePrefix(s); err != nil {
			return fmt.Sprintf("allowed_ips: %q is not a CIDR", s)
		}
	}
	for _, s := range g.DNS {
		if _, err := netip.ParseAddr(s); err != nil {
			return fmt.Sprintf("dns: %q is not an IP address", s)
		}
		if err := wgquick.CheckAddr(s); err != nil {
			return fmt.Sprintf("dns: %v", err)
		}
	}
	if g.MTU != 0 && (g.MTU < 1280 || g.MTU > 9000) {
		return fmt.Sprintf("mtu: %d is not between 1280 and 9000", g.MTU)
	}
	if g.PersistentKeepalive < 0 || g.PersistentKeepalive > 65535 {
		return fmt.Sprintf("persistent_keepalive: %d is not between 0 and 65535 seconds", g.PersistentKeepalive)
	}
	return ""
}

func (b *backend) pathGatewayDelete(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name := d.Get("name").(string)
	if err := b.reg.wait(ctx, req.Storage); err != nil {
		return nil, err
	}
	lock := locksutil.LockForKey(b.locks, gatewayStoragePrefix+name)
	lock.Lock()
	defer lock.Unlock()
	if n := b.reg.liveCount(name); n > 0 {
		return logical.ErrorResponse("gateway %s has %d live certificates: revoke them before deleting it", name, n), nil
	}
	// The status goes first: if that fails, the gateway is still there and
	// the deletion can be retried.
	if err := deleteStatus(ctx, req.Storage, name); err != nil {
		return nil, err
	}
	if err := deleteKey(ctx, req.Storage, gatewayStoragePrefix+name); err != nil {
		return nil, err
	}
	store[gatewayEntry](b.config, b.config.gateways, name, nil)
	return nil, nil
}

func (b *backend) pathGatewayList(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	names, err := req.Storage.List(ctx, gatewayStoragePrefix)
	if err != nil {
		return nil, err
	}
	return logical.ListResponse(names), nil
}

const pathGatewayHelpSyn = `Manage the WireGuard gateways devices connect to.`

const pathGatewayHelpDesc = `
A gateway is a WireGuard endpoint (endpoint, public_key) with its own tunnel
addresses (address) and the pools devices get their addresses from
(address_pool: CIDRs; a device gets one IPv4 address and, if there is an IPv6
pool, one IPv6 address). allowed_ips are the routes devices send into the
tunnel (default: the pools); dns, mtu and persistent_keepalive go into the
devices' wg-quick configuration. A gateway with live certificates cannot be
deleted.
`

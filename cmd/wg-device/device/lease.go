package device

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	vault "github.com/hashicorp/vault/api"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/issuance"
	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/wgkey"
	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/wgquick"
)

// A Lease is one certificate the engine issued for the device, with what
// the device needs to use it.
type Lease struct {
	// LeaseID is Vault's lease of the certificate.
	LeaseID string
	// Received is when the device got the answer (its own clock); TTL the
	// lease's lifetime from then. Expiration is the certificate's NotAfter.
	Received   time.Time
	TTL        time.Duration
	Expiration time.Time

	SerialNumber string
	CommonName   string
	Certificate  string // PEM
	IssuingCA    string // PEM
	PublicKey    wgtypes.Key

	// Addresses are the device's tunnel addresses (/32, /128).
	Addresses []netip.Prefix

	Gateway             string
	GatewayPublicKey    wgtypes.Key
	Endpoint            string // host:port
	AllowedIPs          []netip.Prefix
	DNS                 []string
	MTU                 int
	PersistentKeepalive int // seconds
}

// sameAddresses reports whether l has the tunnel addresses of other.
func (l *Lease) sameAddresses(other *Lease) bool {
	return slices.Equal(l.Addresses, other.Addresses)
}

// Expires is when the lease ends on the device's clock.
func (l *Lease) Expires() time.Time { return l.Received.Add(l.TTL) }

// issueFieldKinds says what the engine's numbers are, for a message about
// one that is not.
var issueFieldKinds = map[string]string{"mtu": "a count", "persistent_keepalive": "a count", "expiration": "a unix time"}

// ParseIssue reads the engine's answer to an issue request for public,
// received at now. It checks that the certificate is for public and that
// every field the device uses is there and well formed.
func ParseIssue(sec *vault.Secret, public wgtypes.Key, now time.Time) (*Lease, error) {
	if sec == nil || sec.Data == nil {
		return nil, fmt.Errorf("%w: an empty answer", ErrBadResponse)
	}
	raw, err := json.Marshal(sec.Data)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadResponse, err)
	}
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrBadResponse, field, fmt.Sprintf(format, args...))
	}
	var d issuance.Response
	if err := json.Unmarshal(raw, &d); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && issueFieldKinds[te.Field] != "" {
			return nil, bad(te.Field, "%s is not %s", te.Value, issueFieldKinds[te.Field])
		}
		return nil, fmt.Errorf("%w: %v", ErrBadResponse, err)
	}
	if d.PublicKey != public.String() {
		return nil, bad("public_key", "the certificate is for %q, not this device's key %q", d.PublicKey, public)
	}
	if d.Certificate == "" || d.SerialNumber == "" {
		return nil, bad("certificate", "missing")
	}
	if sec.LeaseID == "" || sec.LeaseDuration <= 0 {
		return nil, bad("lease", "the answer carries no lease")
	}
	l := &Lease{
		LeaseID:      sec.LeaseID,
		Received:     now,
		TTL:          time.Duration(sec.LeaseDuration) * time.Second,
		SerialNumber: d.SerialNumber,
		CommonName:   d.CommonName,
		Certificate:  d.Certificate,
		IssuingCA:    d.IssuingCA,
		PublicKey:    public,
		Gateway:      d.Gateway,
		Endpoint:     d.Endpoint,
		DNS:          d.DNS,
	}
	// Text that goes into comment lines of the wg-quick file must stay on
	// its line; so must the values below, each checked for what it is.
	for field, v := range map[string]string{
		"common_name": d.CommonName, "serial_number": d.SerialNumber, "gateway": d.Gateway, "lease": sec.LeaseID,
	} {
		if err := wgquick.CheckText(v); err != nil {
			return nil, bad(field, "%v", err)
		}
	}
	if l.GatewayPublicKey, err = wgkey.ParsePublic(d.GatewayPublicKey); err != nil {
		return nil, bad("gateway_public_key", "%v", err)
	}
	if _, _, err := net.SplitHostPort(d.Endpoint); err != nil {
		return nil, bad("endpoint", "%v", err)
	}
	if err := wgquick.CheckEndpoint(d.Endpoint); err != nil {
		return nil, bad("endpoint", "%v", err)
	}
	for _, s := range d.DNS {
		if err := wgquick.CheckAddr(s); err != nil {
			return nil, bad("dns", "%v", err)
		}
	}
	if len(d.Addresses) == 0 {
		return nil, bad("addresses", "none")
	}
	if l.Addresses, err = parsePrefixes(d.Addresses); err != nil {
		return nil, bad("addresses", "%v", err)
	}
	if l.AllowedIPs, err = parsePrefixes(d.AllowedIPs); err != nil {
		return nil, bad("allowed_ips", "%v", err)
	}
	for field, n := range map[string]int{"mtu": d.MTU, "persistent_keepalive": d.PersistentKeepalive} {
		if n < 0 {
			return nil, bad(field, "%d is not a count", n)
		}
	}
	l.MTU, l.PersistentKeepalive = d.MTU, d.PersistentKeepalive
	if d.Expiration <= 0 {
		return nil, bad("expiration", "missing")
	}
	l.Expiration = time.Unix(d.Expiration, 0).UTC()
	return l, nil
}

// parsePrefixes parses CIDRs, masking host bits.
func parsePrefixes(ss []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(ss))
	for _, s := range ss {
		p, err := netip.ParsePrefix(strings.TrimSpace(s))
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// prefixStrings renders prefixes as CIDRs.
func prefixStrings(ps []netip.Prefix) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}

// WGQuick is the device's complete wg-quick configuration for the lease,
// with its own private key. Its Render refuses a value that ParseIssue
// would have refused.
func (l *Lease) WGQuick(private wgtypes.Key) wgquick.Config {
	return wgquick.Config{
		Comment: []string{
			fmt.Sprintf("WireGuard certificate %s for %s, written by wg-device", l.SerialNumber, l.CommonName),
			fmt.Sprintf("gateway %s, valid until %s (lease %s)", l.Gateway, l.Expiration.Format(time.RFC3339), l.LeaseID),
		},
		PrivateKey: private.String(),
		Addresses:  prefixStrings(l.Addresses),
		DNS:        l.DNS,
		MTU:        l.MTU,
		Peer: wgquick.Peer{
			PublicKey:           l.GatewayPublicKey.String(),
			Endpoint:            l.Endpoint,
			AllowedIPs:          prefixStrings(l.AllowedIPs),
			PersistentKeepalive: l.PersistentKeepalive,
		},
	}
}

// DeviceConfig is the interface configuration for the lease: the private
// key and the gateway as its only peer, with endpoint the gateway's
// resolved endpoint. The peer list is replaced: a device talks to its
// gateway only, and a new private key voids every session anyway.
func (l *Lease) DeviceConfig(private wgtypes.Key, endpoint *net.UDPAddr) wgtypes.Config {
	peer := wgtypes.PeerConfig{
		PublicKey:         l.GatewayPublicKey,
		Endpoint:          endpoint,
		ReplaceAllowedIPs: true,
	}
	for _, p := range l.AllowedIPs {
		p = p.Masked()
		peer.AllowedIPs = append(peer.AllowedIPs, net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())})
	}
	keepalive := time.Duration(l.PersistentKeepalive) * time.Second
	peer.PersistentKeepaliveInterval = &keepalive
	return wgtypes.Config{PrivateKey: &private, ReplacePeers: true, Peers: []wgtypes.PeerConfig{peer}}
}

// PEMPath is where the certificate goes beside the wg-quick file conf:
// .conf replaced by .pem (or .pem added).
func PEMPath(conf string) string {
	return strings.TrimSuffix(conf, ".conf") + ".pem"
}

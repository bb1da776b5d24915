package wgquick

import (
	"fmt"
	"strings"
)

// PrivateKeyPlaceholder stands in the PrivateKey line of a configuration
// rendered without the key, for the device to replace with its own.
const PrivateKeyPlaceholder = "<your WireGuard private key>"

// A Config is a device's interface and its one peer, the gateway.
type Config struct {
	// Comment lines go at the top, each prefixed with "# ".
	Comment []string
	// PrivateKey is the device's key, base64; empty renders the placeholder.
	PrivateKey string
	Addresses  []string
	DNS        []string
	MTU        int
	Peer       Peer
}

// A Peer is the gateway as the device sees it.
type Peer struct {
	PublicKey           string
	Endpoint            string
	AllowedIPs          []string
	PersistentKeepalive int
}

// Render returns the configuration in wg-quick's INI format. Each value is
// checked for what its key holds (keys, IP addresses, CIDRs, host:port,
// numbers; comments are one line of text), so that no value can add a line
// or a key to the file: wg-quick runs the commands of PreUp, PostUp and the
// like as root. The first value that does not fit is a *ValueError naming
// its key, wrapping ErrValue.
func (c Config) Render() (string, error) {
	if err := c.check(); err != nil {
		return "", err
	}
	var sb strings.Builder
	for _, line := range c.Comment {
		fmt.Fprintf(&sb, "# %s\n", line)
	}
	sb.WriteString("[Interface]\n")
	key := c.PrivateKey
	if key == "" {
		key = PrivateKeyPlaceholder
	}
	fmt.Fprintf(&sb, "PrivateKey = %s\n", key)
	fmt.Fprintf(&sb, "Address = %s\n", strings.Join(c.Addresses, ", "))
	if len(c.DNS) > 0 {
		fmt.Fprintf(&sb, "DNS = %s\n", strings.Join(c.DNS, ", "))
	}
	if c.MTU > 0 {
		fmt.Fprintf(&sb, "MTU = %d\n", c.MTU)
	}
	sb.WriteString("\n[Peer]\n")
	fmt.Fprintf(&sb, "PublicKey = %s\n", c.Peer.PublicKey)
	fmt.Fprintf(&sb, "Endpoint = %s\n", c.Peer.Endpoint)
	fmt.Fprintf(&sb, "AllowedIPs = %s\n", strings.Join(c.Peer.AllowedIPs, ", "))
	if c.Peer.PersistentKeepalive > 0 {
		fmt.Fprintf(&sb, "PersistentKeepalive = %d\n", c.Peer.PersistentKeepalive)
	}
	return sb.String(), nil
}

// check returns the first value of c that cannot go where Render puts it.
func (c Config) check() error {
	type item struct {
		key   string
		check func(string) error
		vals  []string
	}
	items := []item{
		{"comment", CheckText, c.Comment},
		{"Address", checkPrefix, c.Addresses},
		{"DNS", CheckAddr, c.DNS},
		{"PublicKey", checkPublicKey, []string{c.Peer.PublicKey}},
		{"Endpoint", CheckEndpoint, []string{c.Peer.Endpoint}},
		{"AllowedIPs", checkPrefix, c.Peer.AllowedIPs},
	}
	if c.PrivateKey != "" {
		items = append(items, item{"PrivateKey", checkPrivateKey, []string{c.PrivateKey}})
	}
	for _, it := range items {
		for _, v := range it.vals {
			if err := it.check(v); err != nil {
				return &ValueError{Key: it.key, Err: err}
			}
		}
	}
	if len(c.Addresses) == 0 {
		return &ValueError{Key: "Address", Err: fmt.Errorf("%w: none", ErrValue)}
	}
	if c.MTU < 0 {
		return &ValueError{Key: "MTU", Err: fmt.Errorf("%w: %d", ErrValue, c.MTU)}
	}
	if c.Peer.PersistentKeepalive < 0 || c.Peer.PersistentKeepalive > 65535 {
		return &ValueError{Key: "PersistentKeepalive", Err: fmt.Errorf("%w: %d", ErrValue, c.Peer.PersistentKeepalive)}
	}
	return nil
}

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

// String renders the configuration in wg-quick's INI format.
func (c Config) String() string {
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
	return sb.String()
}

package wgquick

import (
	"encoding/base64"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"unicode"
	"unicode/utf8"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/wgkey"
)

// CheckText reports (ErrValue) whether s could break out of the one line a
// value or a comment has: a control character (CR, LF, tab, NUL...), a
// Unicode line or paragraph separator, or bytes that are not UTF-8.
func CheckText(s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("%w: not UTF-8", ErrValue)
	}
	for _, r := range s {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return fmt.Errorf("%w: it holds the control character %U", ErrValue, r)
		}
	}
	return nil
}

// CheckEndpoint reports (ErrValue) whether s is not host:port as wg(8)
// takes an endpoint: a port from 1 to 65535 and a host that is an IP
// address without a zone or a DNS name (letters, digits, '-', '_', '.').
func CheckEndpoint(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil || host == "" {
		return fmt.Errorf("%w: %q is not host:port", ErrValue, s)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || strconv.Itoa(n) != port {
		return fmt.Errorf("%w: port %q is not a number from 1 to 65535", ErrValue, port)
	}
	if a, err := netip.ParseAddr(host); err == nil {
		if a.Zone() != "" {
			return fmt.Errorf("%w: host %q has a zone", ErrValue, host)
		}
		return nil
	}
	if !dnsName(host) {
		return fmt.Errorf("%w: host %q is neither an IP address nor a DNS name", ErrValue, host)
	}
	return nil
}

// dnsName reports whether s is a DNS name in the letters-digits-hyphen
// form (underscores allowed, as in service names), at most 253 characters.
func dnsName(s string) bool {
	if len(s) > 253 {
		return false
	}
	label := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '.':
			if label == 0 {
				return false
			}
			label = 0
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_':
			if label++; label > 63 {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// CheckAddr reports (ErrValue) whether s is not an IP address without a
// zone (an IPv6 zone may hold any character, a line break included).
func CheckAddr(s string) error {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return fmt.Errorf("%w: %q is not an IP address", ErrValue, s)
	}
	if a.Zone() != "" {
		return fmt.Errorf("%w: %q has a zone", ErrValue, s)
	}
	return nil
}

// checkPrefix reports whether s is not a CIDR.
func checkPrefix(s string) error {
	if _, err := netip.ParsePrefix(s); err != nil {
		return fmt.Errorf("%w: %q is not a CIDR", ErrValue, s)
	}
	return nil
}

// checkPrivateKey reports whether s is not a key in the canonical base64
// form wg(8) reads.
func checkPrivateKey(s string) error {
	raw, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil || len(raw) != wgkey.KeyLen || base64.StdEncoding.EncodeToString(raw) != s {
		return fmt.Errorf("%w: not a WireGuard key", ErrValue)
	}
	return nil
}

// checkPublicKey reports whether s is not a public key a peer may have.
func checkPublicKey(s string) error {
	if _, err := wgkey.ParsePublic(s); err != nil {
		return fmt.Errorf("%w: %v", ErrValue, err)
	}
	return nil
}

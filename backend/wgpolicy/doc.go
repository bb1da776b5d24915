// Package wgpolicy is the access policy a certificate carries: the
// destinations a device may reach through its gateway.
//
// A role lists them as text (Parse, String); the engine signs them into
// the certificate as a non-critical extension (OID, Marshal); the gateway
// reads them back from the certificate (Unmarshal) and enforces them. The
// rules come only from the signed certificate, so nothing between the CA and
// the gateway can widen them.
//
// Grammar of one entry (a role's allowed_destinations is a list of them):
//
//	entry  = prefix [ ":" ports ]
//	prefix = IPv4 or IPv6 address "/" bits      host bits zero, e.g. 10.20.0.0/24, fd00::/64
//	ports  = "icmp"                              ICMP (ICMPv6 for an IPv6 prefix)
//	       | port "/" proto                      one port
//	       | port "-" port "/" proto             an inclusive range, low <= high
//	port   = 1..65535, decimal without leading zeros
//	proto  = "tcp" | "udp"
//
// An entry without ports allows every protocol to the prefix. The ':' that
// starts the port part is the first one after the '/', so IPv6 prefixes need
// no brackets: "fd00::/64:443/tcp".
//
// The package is pure: no Vault, no network, no clock.
package wgpolicy

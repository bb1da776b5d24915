// Package wgkey parses and generates WireGuard (Curve25519) keys for the
// secrets engine, the gateway daemon and the device client.
//
// Keys are wgtypes.Key values from wgctrl. What this package adds is the
// validation a certificate authority owes its users: a public key must be
// exactly 32 bytes in the one 44-character base64 spelling wg(8) accepts,
// and must not be a low-order point (the all-zero key and its relatives),
// since every session with such a key has a predictable shared secret.
package wgkey

package wgkey

import (
	"encoding/base64"
	"fmt"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// KeyLen is the length in bytes of a WireGuard key.
const KeyLen = wgtypes.KeyLen

// ParsePublic parses a base64 WireGuard public key and rejects keys no peer
// may use. Its errors wrap ErrEncoding, ErrLength or ErrLowOrder.
//
// It accepts exactly what wg(8) accepts (key_from_base64 in wireguard-tools):
// 44 characters of standard base64, the last one '=', whose final character
// leaves no bits set beyond the key's. That is one text per key, the one
// Key.String returns, so a parsed key may be stored or echoed as given. Go's
// decoder alone is looser: it skips CR and LF even in strict mode.
func ParsePublic(s string) (wgtypes.Key, error) {
	raw, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil {
		return wgtypes.Key{}, fmt.Errorf("%w", ErrEncoding)
	}
	if len(raw) != KeyLen {
		return wgtypes.Key{}, fmt.Errorf("%w (got %d)", ErrLength, len(raw))
	}
	key, err := wgtypes.NewKey(raw)
	if err != nil {
		return wgtypes.Key{}, fmt.Errorf("%w", ErrLength)
	}
	if key.String() != s {
		// Strict decoding already refuses stray low bits; this catches the
		// line breaks it skips, and any other second spelling of a key.
		return wgtypes.Key{}, fmt.Errorf("%w (not the canonical 44-character encoding; a line break?)", ErrEncoding)
	}
	if err := CheckPublic(key); err != nil {
		return wgtypes.Key{}, err
	}
	return key, nil
}

// CheckPublic reports ErrLowOrder when key is a low-order point of
// Curve25519: a Diffie-Hellman exchange with it yields a secret that does
// not depend on the private key. X25519 ignores the top bit of a public key,
// so the comparison does too; with that, the seven encodings below (the
// list libsodium and RFC 7748 implementations check) are all of them.
func CheckPublic(key wgtypes.Key) error {
	masked := key
	masked[KeyLen-1] &= 0x7f
	for _, bad := range lowOrderPoints {
		if masked == bad {
			return fmt.Errorf("%w", ErrLowOrder)
		}
	}
	return nil
}

// lowOrderPoints are the encodings of the points of order 1, 2, 4 and 8,
// with the top bit clear.
var lowOrderPoints = [...]wgtypes.Key{
	{},     // 0, order 4
	{0x01}, // 1, order 1
	{0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae, 0x16, 0x56, 0xe3, 0xfa, 0xf1, 0x9f, 0xc4, 0x6a,
		0xda, 0x09, 0x8d, 0xeb, 0x9c, 0x32, 0xb1, 0xfd, 0x86, 0x62, 0x05, 0x16, 0x5f, 0x49, 0xb8, 0x00}, // order 8
	{0x5f, 0x9c, 0x95, 0xbc, 0xa3, 0x50, 0x8c, 0x24, 0xb1, 0xd0, 0xb1, 0x55, 0x9c, 0x83, 0xef, 0x5b,
		0x04, 0x44, 0x5c, 0xc4, 0x58, 0x1c, 0x8e, 0x86, 0xd8, 0x22, 0x4e, 0xdd, 0xd0, 0x9f, 0x11, 0x57}, // order 8
	{0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, // p-1, order 2
	{0xed, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, // p, the same point as 0
	{0xee, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, // p+1, the same point as 1
}

// Generate returns a new private key and its public key.
func Generate() (private, public wgtypes.Key, err error) {
	private, err = wgtypes.GeneratePrivateKey()
	if err != nil {
		return wgtypes.Key{}, wgtypes.Key{}, fmt.Errorf("generate WireGuard key: %w", err)
	}
	return private, private.PublicKey(), nil
}

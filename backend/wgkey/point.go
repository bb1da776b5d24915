package wgkey

import "golang.zx2c4.com/wireguard/wgctrl/wgtypes"

// Point returns the canonical encoding of the Curve25519 point that the
// public key stands for. X25519 ignores the top bit of a public key and
// reduces it modulo p = 2^255-19 (RFC 7748, section 5), so two keys with the
// same Point are the same key to every peer: whoever holds the private key
// of one completes handshakes as the other. Compare keys by their Point.
func Point(key wgtypes.Key) wgtypes.Key {
	key[KeyLen-1] &= 0x7f
	// The only values of 255 bits not below p are p..p+18: 0xed..0xff
	// followed by thirty 0xff bytes and 0x7f.
	if key[0] < 0xed || key[KeyLen-1] != 0x7f {
		return key
	}
	for _, b := range key[1 : KeyLen-1] {
		if b != 0xff {
			return key
		}
	}
	return wgtypes.Key{key[0] - 0xed}
}

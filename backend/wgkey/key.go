package wgkey

import (
	"crypto/ecdh"
	"encoding/base64"
	"fmt"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// KeyLen is the length in bytes of a WireGuard key.
const KeyLen = wgtypes.KeyLen

// ParsePublic parses a base64 WireGuard public key and rejects keys no peer
// may use. Its errors wrap ErrEncoding, ErrLength or ErrLowOrder.
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
	if err := CheckPublic(key); err != nil {
		return wgtypes.Key{}, err
	}
	return key, nil
}

// CheckPublic reports ErrLowOrder when key is a low-order point: a
// Diffie-Hellman exchange with it yields the all-zero secret, which
// crypto/ecdh refuses.
func CheckPublic(key wgtypes.Key) error {
	pub, err := ecdh.X25519().NewPublicKey(key[:])
	if err != nil {
		return fmt.Errorf("%w", ErrLowOrder)
	}
	probe, err := ecdh.X25519().NewPrivateKey(probeScalar[:])
	if err != nil {
		return fmt.Errorf("probe key: %w", err)
	}
	if _, err := probe.ECDH(pub); err != nil {
		return fmt.Errorf("%w", ErrLowOrder)
	}
	return nil
}

// probeScalar is a fixed private scalar. Whether ECDH with a point gives the
// zero secret depends only on the point's order, not on the scalar (after
// clamping, every scalar is a multiple of the cofactor), so a constant one
// is as good as a random one and costs no entropy.
var probeScalar = [KeyLen]byte{
	0x77, 0x07, 0x6d, 0x0a, 0x73, 0x18, 0xa5, 0x7d, 0x3c, 0x16, 0xc1, 0x72, 0x51, 0xb2, 0x66, 0x45,
	0xdf, 0x4c, 0x2f, 0x87, 0xeb, 0xc0, 0x99, 0x2a, 0xb1, 0x77, 0xfb, 0xa5, 0x1d, 0xb9, 0x2c, 0x2a,
}

// Generate returns a new private key and its public key.
func Generate() (private, public wgtypes.Key, err error) {
	private, err = wgtypes.GeneratePrivateKey()
	if err != nil {
		return wgtypes.Key{}, wgtypes.Key{}, fmt.Errorf("generate WireGuard key: %w", err)
	}
	return private, private.PublicKey(), nil
}

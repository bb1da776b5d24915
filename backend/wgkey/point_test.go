package wgkey

import (
	"crypto/ecdh"
	"encoding/hex"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

func TestPoint(t *testing.T) {
	priv, pub, err := Generate()
	require.NoError(t, err)
	pub[KeyLen-1] &= 0x7f // a generated key's top bit is clear already; make it certain
	highBit := pub
	highBit[KeyLen-1] |= 0x80
	key := func(h string) wgtypes.Key {
		t.Helper()
		raw, err := hex.DecodeString(h)
		require.NoError(t, err)
		k, err := wgtypes.NewKey(raw)
		require.NoError(t, err)
		return k
	}
	nine := key("0900000000000000000000000000000000000000000000000000000000000000")
	tests := []struct {
		name    string
		in, out wgtypes.Key
	}{
		{"canonical", pub, pub},
		{"top bit set", highBit, pub},
		{"base point plus p", key("f6ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"), nine},
		{"base point plus p, top bit set", key("f6ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"), nine},
		{"p-1 stays", key("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"), key("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f")},
		{"p is 0", key("edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"), wgtypes.Key{}},
		{"2^255-1 is 18", key("ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"), wgtypes.Key{18}},
		{"not all ones stays", key("f6fffffffffffffffffffffffffffffffffffffffffffffffffffffffeffff7f"), key("f6fffffffffffffffffffffffffffffffffffffffffffffffffffffffeffff7f")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.out, Point(tc.in), "Point(%x)", tc.in[:])
		})
	}

	// X25519 agrees: the same shared secret with a key and its Point.
	ecPriv, err := ecdh.X25519().NewPrivateKey(priv[:])
	require.NoError(t, err)
	for _, tc := range tests[:4] {
		a, errA := ecdh.X25519().NewPublicKey(tc.in[:])
		b, errB := ecdh.X25519().NewPublicKey(tc.out[:])
		require.NoError(t, errA)
		require.NoError(t, errB)
		sa, errA := ecPriv.ECDH(a)
		sb, errB := ecPriv.ECDH(b)
		require.NoError(t, errA)
		require.NoError(t, errB)
		require.Equal(t, sa, sb, "%s: X25519 differs", tc.name)
	}
}

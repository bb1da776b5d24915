package wgkey

import (
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

func TestParsePublic(t *testing.T) {
	_, pub, err := Generate()
	require.NoError(t, err)
	// Low-order points of Curve25519 (from the libsodium / RFC 7748 blocklist).
	lowOrder := []string{
		"0000000000000000000000000000000000000000000000000000000000000000",
		"0100000000000000000000000000000000000000000000000000000000000000",
		"e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
		"5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
		"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
		"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
		"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	}
	tests := []struct {
		name string
		in   string
		want error
	}{
		{"valid", pub.String(), nil},
		{"empty", "", ErrLength},
		{"not base64", "not a key!", ErrEncoding},
		{"url alphabet", strings.NewReplacer("+", "-", "/", "_").Replace(strings.Repeat("+/", 21) + "+w=="), ErrEncoding},
		{"31 bytes", base64.StdEncoding.EncodeToString(make([]byte, 31)), ErrLength},
		{"33 bytes", base64.StdEncoding.EncodeToString(make([]byte, 33)), ErrLength},
		// Go's decoder skips CR and LF even in strict mode; wg does not.
		{"embedded LF", pub.String()[:26] + "\n" + pub.String()[26:], ErrEncoding},
		{"embedded CR", pub.String()[:10] + "\r" + pub.String()[10:], ErrEncoding},
		{"trailing LF", pub.String() + "\n", ErrEncoding},
		{"fuzz: LF splits a 43-char key", "00000000000000000000000000\n00000000000000000=", ErrEncoding},
		{"no padding", strings.TrimSuffix(pub.String(), "="), ErrEncoding},
		{"space", " " + pub.String(), ErrEncoding},
		// The last character carries 4 bits of key and 2 zero bits; wg refuses
		// a key whose zero bits are set (it is not the canonical encoding).
		{"non-canonical last char", pub.String()[:42] + nonCanonical(pub.String()[42]) + "=", ErrEncoding},
	}
	for i, h := range lowOrder {
		tests = append(tests, struct {
			name string
			in   string
			want error
		}{"low order " + string(rune('a'+i)), hexToBase64(t, h), ErrLowOrder})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePublic(tt.in)
			require.ErrorIs(t, err, tt.want, "ParsePublic(%q)", tt.in)
			if tt.want == nil {
				require.Equal(t, tt.in, got.String())
			}
		})
	}
}

// nonCanonical returns the base64 character that encodes the same 4 high
// bits as c with a low bit set.
func nonCanonical(c byte) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	return string(alphabet[strings.IndexByte(alphabet, c)|1])
}

func hexToBase64(t *testing.T, h string) string {
	t.Helper()
	b, err := hex.DecodeString(h)
	require.NoError(t, err)
	return base64.StdEncoding.EncodeToString(b)
}

func FuzzParsePublic(f *testing.F) {
	_, pub, _ := Generate()
	for _, s := range []string{pub.String(), "", "AAAA", base64.StdEncoding.EncodeToString(make([]byte, 32))} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		key, err := ParsePublic(s)
		if err != nil {
			return
		}
		// Whatever parses must round-trip and pass the point check.
		require.Equal(t, s, key.String(), "round trip")
		require.NoError(t, CheckPublic(key), "an accepted key passes CheckPublic")
	})
}

// TestCheckPublicAgreesWithECDH checks the table against the definition: a
// key is low-order exactly when X25519 with it gives the all-zero secret,
// which crypto/ecdh refuses. Random keys, the table's entries and their
// variants with the top bit set are tried.
func TestCheckPublicAgreesWithECDH(t *testing.T) {
	probe, err := ecdh.X25519().GenerateKey(rand.Reader)
	require.NoError(t, err)
	var keys []wgtypes.Key
	for _, k := range lowOrderPoints {
		high := k
		high[KeyLen-1] |= 0x80
		keys = append(keys, k, high)
	}
	for range 2000 {
		var k wgtypes.Key
		rand.Read(k[:])
		keys = append(keys, k)
	}
	for _, k := range keys {
		pub, err := ecdh.X25519().NewPublicKey(k[:])
		require.NoError(t, err)
		_, ecdhErr := probe.ECDH(pub)
		require.Equal(t, ecdhErr != nil, CheckPublic(k) != nil, "key %x: CheckPublic against ECDH error %v", k, ecdhErr)
	}
}

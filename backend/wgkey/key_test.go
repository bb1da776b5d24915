package wgkey

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

func TestParsePublic(t *testing.T) {
	_, pub, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
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
			if !errors.Is(err, tt.want) {
				t.Fatalf("ParsePublic(%q) error = %v, want %v", tt.in, err, tt.want)
			}
			if tt.want == nil && got.String() != tt.in {
				t.Fatalf("ParsePublic(%q) = %s", tt.in, got)
			}
		})
	}
}

func hexToBase64(t *testing.T, h string) string {
	t.Helper()
	b, err := hex.DecodeString(h)
	if err != nil {
		t.Fatal(err)
	}
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
		if key.String() != s {
			t.Fatalf("round trip: %q became %q", s, key.String())
		}
		if err := CheckPublic(key); err != nil {
			t.Fatalf("accepted key fails CheckPublic: %v", err)
		}
	})
}

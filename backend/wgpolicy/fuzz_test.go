package wgpolicy

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzUnmarshal checks that Unmarshal never panics and that whatever it
// accepts is exactly what Marshal writes for the result.
func FuzzUnmarshal(f *testing.F) {
	for _, entries := range [][]string{
		{"10.20.0.0/24"},
		{"10.30.0.5/32:443/tcp", "10.20.0.0/24", "fd00::/64:8000-8099/udp", "::/0:icmp"},
	} {
		der, err := Marshal(mustParse(f, entries...))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(der)
	}
	f.Add([]byte{0x30, 0x00})
	f.Fuzz(func(t *testing.T, der []byte) {
		ds, err := Unmarshal(der)
		if err != nil {
			return
		}
		again, err := Marshal(ds)
		if err != nil {
			t.Fatalf("Marshal(Unmarshal(%x)) = %v", der, err)
		}
		if !bytes.Equal(again, der) {
			t.Fatalf("Unmarshal accepted %x, which Marshal writes as %x", der, again)
		}
	})
}

// FuzzParse checks that Parse never panics, that String of what it accepts
// parses back to the same destination, and that it survives the DER.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"10.20.0.0/24", "10.30.0.5/32:443/tcp", "10.30.0.0/24:8000-8099/udp", "10.30.0.0/24:icmp", "fd00::/64:443/tcp", "::/0", "10.1.2.3/32:0/tcp"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, entry string) {
		ds, err := Parse([]string{entry})
		if err != nil {
			if !strings.Contains(err.Error(), "destination") {
				t.Fatalf("Parse(%q) error %q does not say what failed", entry, err)
			}
			return
		}
		again, err := Parse([]string{ds[0].String()})
		if err != nil || again[0] != ds[0] {
			t.Fatalf("Parse(%q) = %v; Parse(String) = %v, %v", entry, ds[0], again, err)
		}
		der, err := Marshal(ds)
		if err != nil {
			t.Fatalf("Marshal(%v) = %v", ds, err)
		}
		back, err := Unmarshal(der)
		if err != nil || len(back) != 1 || back[0] != ds[0] {
			t.Fatalf("Unmarshal(Marshal(%v)) = %v, %v", ds, back, err)
		}
	})
}

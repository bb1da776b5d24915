package wgpolicy

import (
	"bytes"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/crypto/cryptobyte"
)

func TestMarshalRoundTrip(t *testing.T) {
	ds := mustParse(t, "fd00::/64:443/tcp", "10.30.0.5/32:443/tcp", "10.20.0.0/24", "10.30.0.0/24:8000-8099/udp", "10.30.0.0/24:icmp", "0.0.0.0/0", "::/0", "10.20.0.0/24")
	der, err := Marshal(ds)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Unmarshal(der)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(texts(Canonical(ds)), texts(got)); diff != "" {
		t.Fatalf("Unmarshal(Marshal) (-want +got):\n%s", diff)
	}
	shuffled, err := Marshal(Canonical(ds))
	if err != nil || !bytes.Equal(shuffled, der) {
		t.Fatalf("Marshal depends on the order of its argument")
	}
}

// TestMarshalBytes pins the encoding the README documents.
func TestMarshalBytes(t *testing.T) {
	der, err := Marshal(mustParse(t, "10.30.0.5/32:443/tcp", "10.20.0.0/24"))
	if err != nil {
		t.Fatal(err)
	}
	want := "3026" +
		"300c" + "04040a140000" + "020118" + "020100" +
		"3016" + "04040a1e0005" + "020120" + "020101" + "3008" + "020201bb" + "020201bb"
	if got := hex.EncodeToString(der); got != want {
		t.Fatalf("Marshal = %s, want %s", got, want)
	}
}

func TestMarshalRejects(t *testing.T) {
	if _, err := Marshal(nil); !errors.Is(err, ErrEmpty) {
		t.Fatalf("Marshal(nil) = %v, want ErrEmpty", err)
	}
	bad := []Destination{{Prefix: mustParse(t, "10.0.0.0/8")[0].Prefix, Proto: ProtoTCP}}
	if _, err := Marshal(bad); !errors.Is(err, ErrMalformed) {
		t.Fatalf("Marshal(tcp without port) = %v, want ErrMalformed", err)
	}
}

// tlv returns the hex of a DER element with a short-form length.
func tlv(tag string, body ...string) string {
	b := strings.Join(body, "")
	return tag + fmt.Sprintf("%02x", len(b)/2) + b
}

func TestUnmarshalStrict(t *testing.T) {
	seq := func(body ...string) string { return tlv("30", body...) }
	v4 := tlv("04", "0a140000") // 10.20.0.0
	i := func(h string) string { return tlv("02", h) }
	valid := seq(seq(v4, i("18"), i("00")))
	if _, err := Unmarshal(mustHex(t, valid)); err != nil {
		t.Fatalf("the base case %s does not decode: %v", valid, err)
	}
	tests := map[string]string{
		"empty input":          "",
		"empty sequence":       seq(),
		"trailing data":        valid + "00",
		"not a sequence":       tlv("04"),
		"address of 5 bytes":   seq(seq(tlv("04", "0a14000000"), i("18"), i("00"))),
		"prefix length 33":     seq(seq(v4, i("21"), i("00"))),
		"negative length":      seq(seq(v4, i("ff"), i("00"))),
		"host bits set":        seq(seq(tlv("04", "0a140001"), i("18"), i("00"))),
		"unknown protocol":     seq(seq(v4, i("18"), i("04"))),
		"tcp without ports":    seq(seq(v4, i("18"), i("01"))),
		"any with ports":       seq(seq(v4, i("18"), i("00"), seq(i("01bb"), i("01bb")))),
		"icmp with ports":      seq(seq(v4, i("18"), i("03"), seq(i("01bb"), i("01bb")))),
		"port 0":               seq(seq(v4, i("18"), i("01"), seq(i("00"), i("00")))),
		"port 65536":           seq(seq(v4, i("18"), i("01"), seq(i("010000"), i("010000")))),
		"reversed range":       seq(seq(v4, i("18"), i("01"), seq(i("01bb"), i("01ba")))),
		"three ports":          seq(seq(v4, i("18"), i("01"), seq(i("01bb"), i("01bb"), i("01bb")))),
		"non-minimal integer":  seq(seq(v4, i("0018"), i("00"))),
		"long-form length":     "3081" + valid[2:],
		"extra field":          seq(seq(v4, i("18"), i("00"), "0500")),
		"missing protocol":     seq(seq(v4, i("18"))),
		"out of order":         seq(seq(tlv("04", "0a1e0000"), i("18"), i("00")), seq(v4, i("18"), i("00"))),
		"duplicate":            seq(seq(v4, i("18"), i("00")), seq(v4, i("18"), i("00"))),
		"v4-mapped v6 address": seq(seq(tlv("04", "00000000000000000000ffff0a140000"), i("78"), i("00"))),
	}
	for name, h := range tests {
		t.Run(name, func(t *testing.T) {
			if ds, err := Unmarshal(mustHex(t, h)); !errors.Is(err, ErrBadEncoding) {
				t.Fatalf("Unmarshal(%s) = %v, %v; want ErrBadEncoding", h, ds, err)
			}
		})
	}
}

func mustHex(t *testing.T, h string) []byte {
	t.Helper()
	b, err := hex.DecodeString(h)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestOIDParsesInGo checks that crypto/x509 can read the OID: an extension
// whose OID it cannot read makes the whole certificate unparseable.
func TestOIDParsesInGo(t *testing.T) {
	der, err := asn1.Marshal(OID)
	if err != nil {
		t.Fatal(err)
	}
	s := cryptobyte.String(der)
	var got asn1.ObjectIdentifier
	if !s.ReadASN1ObjectIdentifier(&got) || !got.Equal(OID) {
		t.Fatalf("cryptobyte reads %v as %v", OID, got)
	}
	if want := "1.2.840.113556.1.8000.2554.57310.52818.10320.19346.36547.453485.2902469.1"; OID.String() != want {
		t.Fatalf("OID = %s, want %s (the README documents it)", OID, want)
	}
}

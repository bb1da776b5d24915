package backend

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// appendPeer writes the bytes json.Marshal gives for the record's peer,
// with its certificate as PEM or as DER (serial, key and DER only),
// whatever the record holds: line
// lengths of the PEM, no addresses, values that need escaping, times with
// nanoseconds or a zone.
func TestAppendPeerAsMarshal(t *testing.T) {
	der := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(i*7 + 3)
		}
		return b
	}
	exp := time.Date(2026, 11, 25, 1, 25, 55, 0, time.UTC)
	base := certRecord{SerialNumber: "46:70:0a", PublicKey: "E9q0PS6oZvrc7YXMSrU9v8Ni+a4sjgqGERxBe9oXXCw=",
		Addresses: []string{"10.77.0.2/32", "fd77::2/128"}, Certificate: der(390), ExpiresAt: exp}
	for name, change := range map[string]func(*certRecord){
		"usual":                func(*certRecord) {},
		"no addresses (nil)":   func(r *certRecord) { r.Addresses = nil },
		"no addresses (empty)": func(r *certRecord) { r.Addresses = []string{} },
		"no certificate":       func(r *certRecord) { r.Certificate = nil },
		"one line exactly":     func(r *certRecord) { r.Certificate = der(48) },
		"two lines exactly":    func(r *certRecord) { r.Certificate = der(96) },
		"a short last line":    func(r *certRecord) { r.Certificate = der(49) },
		"nanoseconds":          func(r *certRecord) { r.ExpiresAt = exp.Add(123456789) },
		"a zone":               func(r *certRecord) { r.ExpiresAt = exp.In(time.FixedZone("x", 5*3600+1800)) },
		"quotes and html":      func(r *certRecord) { r.SerialNumber = `a"b\c<d>&e` },
		"control and unicode":  func(r *certRecord) { r.PublicKey = "k\n\t\x01é\u2028" },
		"invalid utf-8":        func(r *certRecord) { r.Addresses = []string{"10.0.0.1/32\xff\xfe"} },
		"empty strings":        func(r *certRecord) { r.SerialNumber, r.PublicKey = "", "" },
	} {
		for _, der := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/der=%v", name, der), func(t *testing.T) {
				rec := base
				change(&rec)
				want, err := json.Marshal(feedPeer(&rec, der))
				require.NoError(t, err)
				got, _, err := appendPeer([]byte("x"), nil, &rec, der)
				require.NoError(t, err)
				require.Equal(t, "x"+string(want), string(got))
			})
		}
	}
	// A year json refuses is refused here too.
	rec := base
	rec.ExpiresAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	_, err := json.Marshal(rec.peer())
	require.Error(t, err)
	_, _, err = appendPeer(nil, nil, &rec, false)
	require.Error(t, err)
	// A DER entry carries no expiration: nothing to refuse.
	_, _, err = appendPeer(nil, nil, &rec, true)
	require.NoError(t, err)
}

// Encoding a page allocates its buffer and little else: it was 13
// allocations and 5 KB per peer through json.Encoder and the PEM string.
func TestAppendPeerAllocates(t *testing.T) {
	rec := &certRecord{SerialNumber: "46:70:0a", PublicKey: "E9q0PS6oZvrc7YXMSrU9v8Ni+a4sjgqGERxBe9oXXCw=",
		Addresses: []string{"10.77.0.2/32"}, Certificate: make([]byte, 390), ExpiresAt: time.Now()}
	buf, scratch := make([]byte, 0, 4096), make([]byte, 0, 1024)
	for _, der := range []bool{false, true} {
		allocs := testing.AllocsPerRun(100, func() {
			var err error
			if buf, scratch, err = appendPeer(buf[:0], scratch, rec, der); err != nil {
				t.Fatal(err)
			}
		})
		require.Zero(t, allocs, "der=%v", der)
	}
}

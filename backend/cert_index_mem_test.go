package backend

import (
	"fmt"
	"runtime"
	"testing"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// Indexing a certificate whose key, address and common name are its own
// (the usual case: one device, one certificate) costs a few hundred bytes,
// not a set per value: at 50,000 live certificates the indexes were half
// of the plugin's heap (88 MB of 173 MB in P6's heap profile).
func TestCertIndexesCompact(t *testing.T) {
	const n = 20000
	recs := make([]*certRecord, n)
	for i := range recs {
		var key [32]byte
		key[0], key[1], key[2], key[3] = byte(i), byte(i>>8), byte(i>>16), 1
		recs[i] = &certRecord{
			SerialNumber: fmt.Sprintf("%02x:%02x:%02x:01", i>>16, (i>>8)&0xff, i&0xff),
			PublicKey:    wgtypes.Key(key).String(),
			CommonName:   fmt.Sprintf("dev-%d", i),
			Addresses:    []string{fmt.Sprintf("10.%d.%d.%d/32", i>>16, (i>>8)&0xff, i&0xff)},
			Gateway:      "gw", Role: "role", EntityID: fmt.Sprintf("e-%d", i%50),
		}
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	ix := newCertIndexes()
	for _, rec := range recs {
		ix.add(rec.SerialNumber, indexValues(rec))
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	perCert := float64(after.HeapAlloc-before.HeapAlloc) / n
	t.Logf("%.0f bytes per certificate in one certIndexes", perCert)
	if perCert > 600 {
		t.Errorf("%.0f bytes per certificate in one index (the registry keeps one, of live and dead certificates)", perCert)
	}
	// Still found, and gone once removed.
	if !ix[fieldCommonName]["dev-7"].has(recs[7].SerialNumber) || ix[fieldEntityID]["e-7"].len() != n/50 {
		t.Fatal("an indexed certificate is not found")
	}
	for _, rec := range recs {
		ix.remove(rec.SerialNumber, indexValues(rec))
	}
	for f, values := range ix {
		if len(values) != 0 {
			t.Errorf("%s: %d values left after every certificate was removed", f, len(values))
		}
	}
	runtime.KeepAlive(recs)
}

package backend

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// memRecords makes n records of distinct devices of one gateway, role and
// entity, as a fleet's are: every value a device has of its own is its own.
func memRecords(n int) []*certRecord {
	recs := make([]*certRecord, n)
	for i := range recs {
		var key [32]byte
		key[0], key[1], key[2], key[3] = byte(i), byte(i>>8), byte(i>>16), 1
		recs[i] = &certRecord{
			SerialNumber: fmt.Sprintf("5a:%02x:%02x:%02x:01:02:03:04:05:06:07:08:09:0a:0b:0c", i>>16, (i>>8)&0xff, i&0xff),
			PublicKey:    wgtypes.Key(key).String(),
			CommonName:   fmt.Sprintf("dev-%d", i),
			Addresses:    []string{fmt.Sprintf("10.%d.%d.%d/32", 64+i>>16, (i>>8)&0xff, i&0xff), fmt.Sprintf("fd77::%x/128", i+2)},
			Gateway:      "gw", Role: "role", Identity: "entity-1", EntityID: "entity-1",
			ExpiresAt: time.Unix(2e9, 0),
		}
	}
	return recs
}

// heapOf is the heap that fn leaves allocated, in bytes.
func heapOf(fn func()) float64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	fn()
	runtime.GC()
	runtime.ReadMemStats(&after)
	return float64(after.HeapAlloc) - float64(before.HeapAlloc)
}

// The registry's bookkeeping of a live certificate (its maps and indexes,
// not the record itself) stays small: it was 1,362 bytes per certificate
// (68 MB at 50,000, most of the plugin's heap): 400 of them a second index
// of the live certificates only, 120 a map of live serials by key, 130 a
// count of holders per address, all of which the index of every
// certificate answers.
func TestRegistryLiveCertCompact(t *testing.T) {
	const n = 20000
	recs := memRecords(n)
	r := newRegistry(time.Now)
	perCert := heapOf(func() {
		r.mu.Lock()
		for _, rec := range recs {
			r.addLive(rec, false)
		}
		r.mu.Unlock()
	}) / n
	t.Logf("%.0f bytes per live certificate in the registry", perCert)
	if perCert > 700 {
		t.Errorf("%.0f bytes per live certificate in the registry", perCert)
	}
	runtime.KeepAlive(recs)
	runtime.KeepAlive(r)
}

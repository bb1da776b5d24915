package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// barrierOverhead is what Vault's AES-GCM barrier adds to every stored
// value: a 4-byte key term, a version byte, a 12-byte nonce, a 16-byte tag.
const barrierOverhead = 4 + 1 + 12 + 16

// sizeSet is the storage one live certificate costs an engine, averaged
// over a sample: its engine record, its lease entry (Vault stores the
// whole issue response in it), and the lease's index under its token.
// Each is key bytes + value bytes + barrierOverhead.
type sizeSet struct {
	// Record is a certificate's loose entry (certs/<serial>), Packed its
	// share of the mount's packs (certpacks/): a packed record keeps its
	// loose entry until tidy.
	Record  float64 `json:"record_bytes"`
	Packed  float64 `json:"packed_bytes"`
	Lease   float64 `json:"lease_bytes"`
	Index   float64 `json:"token_index_bytes"`
	Total   float64 `json:"total_bytes"`
	Sampled int     `json:"sampled"`
	Records int     `json:"records_in_storage"`
}

type storageReport struct {
	Method string  `json:"method"`
	WG     sizeSet `json:"wg"`
	// WGTidied is WG after a tidy, which deletes the loose copies of
	// packed records (the pack fold leaves them).
	WGTidied sizeSet       `json:"wg_after_tidy"`
	Tidy     time.Duration `json:"tidy_ns"`
	PKI      sizeSet       `json:"pki"`
}

const sizeSample = 100

// storageSizes reads stored entries through sys/raw (the dev server runs
// with raw_storage_endpoint): the values exactly as the barrier stores
// them before encryption (compressed=false); live is the number of live
// certificates on the wg mount, over which its packs are shared. It
// measures the wg mount again after a tidy, which it times.
func (b *bench) storageSizes(wm *wgMount, certs []issued, live int) (storageReport, error) {
	rep := storageReport{Method: fmt.Sprintf("sys/raw, uncompressed stored values, key+value+%d B barrier overhead per entry, mean of %d certificates", barrierOverhead, sizeSample)}
	var leases, serials []string
	step := max(1, len(certs)/sizeSample)
	for i := 0; i < len(certs) && len(leases) < sizeSample; i += step {
		leases, serials = append(leases, certs[i].LeaseID), append(serials, certs[i].Serial)
	}
	var err error
	if rep.WG, err = b.sizesOf(wm.path, "certs/", serials, leases, live); err != nil {
		return rep, err
	}
	start := time.Now()
	if _, err := b.vault.call("POST", wm.path+"/tidy", rootToken, map[string]any{}, nil); err != nil {
		return rep, err
	}
	rep.Tidy = time.Since(start)
	if rep.WGTidied, err = b.sizesOf(wm.path, "certs/", serials, leases, live); err != nil {
		return rep, err
	}

	// The anchor: the same figures for pki/sign with generate_lease.
	pm, err := b.newPKIMount("pki-size", false)
	if err != nil {
		return rep, err
	}
	leases, serials = nil, nil
	for range sizeSample {
		var d struct {
			Serial string `json:"serial_number"`
		}
		r, err := b.vault.call("POST", pm.signPath(), b.device, map[string]any{"csr": string(pm.csr)}, &d)
		if err != nil {
			return rep, err
		}
		leases, serials = append(leases, r.LeaseID), append(serials, strings.ReplaceAll(d.Serial, ":", "-"))
	}
	if rep.PKI, err = b.sizesOf(pm.path, "certs/", serials, leases, len(serials)); err != nil {
		return rep, err
	}
	logf("storage per live certificate: wg %.0f B (record %.0f, lease %.0f, index %.0f); pki %.0f B (record %.0f, lease %.0f, index %.0f)",
		rep.WG.Total, rep.WG.Record, rep.WG.Lease, rep.WG.Index, rep.PKI.Total, rep.PKI.Record, rep.PKI.Lease, rep.PKI.Index)
	return rep, nil
}

// sizesOf is the mean stored bytes per certificate of the mount, which
// holds live certificates, sampled at serials and leases: its loose record
// (if any), its share of the packs (their bytes over live), its lease and
// its token's lease index entry.
func (b *bench) sizesOf(mount, certPrefix string, serials, leases []string, live int) (sizeSet, error) {
	var s sizeSet
	var mounts map[string]struct {
		UUID string `json:"uuid"`
	}
	if _, err := b.vault.call("GET", "sys/mounts", rootToken, nil, &mounts); err != nil {
		return s, err
	}
	m, ok := mounts[mount+"/"]
	if !ok {
		return s, fmt.Errorf("no mount %s", mount)
	}
	base := "logical/" + m.UUID + "/"
	keys, err := b.rawList(base + certPrefix)
	if err != nil {
		return s, err
	}
	s.Records = len(keys)
	tokenIndex, err := b.tokenIndex()
	if err != nil {
		return s, err
	}
	packs, err := b.packBytes(base)
	if err != nil {
		return s, err
	}
	for i := range serials {
		rec, found, err := b.rawSize(base + certPrefix + serials[i])
		if err != nil {
			return s, err
		}
		if !found {
			rec = 0
		}
		lease, found, err := b.rawSize("sys/expire/id/" + leases[i])
		if err == nil && !found {
			err = fmt.Errorf("no lease %s", leases[i])
		}
		if err != nil {
			return s, err
		}
		s.Record += float64(rec)
		s.Lease += float64(lease)
		s.Sampled++
	}
	s.Record /= float64(s.Sampled)
	s.Packed = packs / float64(max(1, live))
	s.Lease /= float64(s.Sampled)
	s.Index = tokenIndex
	s.Total = s.Record + s.Packed + s.Lease + s.Index
	return s, nil
}

// rawSize is the stored size of one entry: key, value, barrier overhead;
// found is false when there is no such entry.
func (b *bench) rawSize(key string) (size int, found bool, err error) {
	v, found, err := b.rawValue(key)
	return len(key) + len(v) + barrierOverhead, found, err
}

// rawValue is the stored value of one entry, uncompressed; found is false
// when there is no such entry.
func (b *bench) rawValue(key string) ([]byte, bool, error) {
	code, body, err := b.vault.do("GET", "sys/raw/"+key+"?compressed=false&encoding=base64", rootToken, nil)
	if err != nil {
		return nil, false, fmt.Errorf("GET sys/raw/%s: %w", key, err)
	}
	if code == http.StatusNotFound {
		return nil, false, nil
	}
	var d struct {
		Data struct {
			Value string `json:"value"`
		} `json:"data"`
	}
	if code != http.StatusOK {
		return nil, false, fmt.Errorf("GET sys/raw/%s: status %d: %s", key, code, truncate(body))
	}
	if err := json.Unmarshal(body, &d); err != nil {
		return nil, false, fmt.Errorf("GET sys/raw/%s: %w", key, err)
	}
	v, err := base64.StdEncoding.DecodeString(d.Data.Value)
	if err != nil {
		return nil, false, fmt.Errorf("%s: %w", key, err)
	}
	return v, true, nil
}

// packBytes is the stored bytes of the mount's packs (certpacks/: key,
// value and barrier overhead), estimated from up to packSample packs
// spread over the list; 0 when it has none.
func (b *bench) packBytes(base string) (float64, error) {
	ids, err := b.rawList(base + "certpacks/")
	if err != nil {
		return 0, err
	}
	bytes, read := 0, 0
	step := max(1, len(ids)/packSample)
	for i := 0; i < len(ids); i += step {
		key := base + "certpacks/" + ids[i]
		v, found, err := b.rawValue(key)
		if err != nil || !found {
			continue // emptied by tidy meanwhile, or a passing error
		}
		bytes += len(key) + len(v) + barrierOverhead
		read++
	}
	if read == 0 {
		return 0, nil
	}
	return float64(bytes) / float64(read) * float64(len(ids)), nil
}

// rawList lists the storage keys under prefix (sys/raw); none when Vault
// answers 404, as it does for an empty prefix.
func (b *bench) rawList(prefix string) ([]string, error) {
	path := "sys/raw/" + prefix
	code, body, err := b.vault.do("LIST", path, rootToken, nil)
	if err != nil {
		return nil, fmt.Errorf("LIST %s: %w", path, err)
	}
	if code == http.StatusNotFound {
		return nil, nil
	}
	if code != http.StatusOK {
		return nil, fmt.Errorf("LIST %s: status %d: %s", path, code, truncate(body))
	}
	var list struct {
		Data struct {
			Keys []string `json:"keys"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		return nil, fmt.Errorf("LIST %s: %w", path, err)
	}
	return list.Data.Keys, nil
}

// packSample is how many packs packBytes reads.
const packSample = 20

// tokenIndex is the mean size of the device token's lease index entries
// (sys/expire/token/<salted token>/<salted lease>, value the lease id),
// over a few of them; the same for both engines but for the lease id.
func (b *bench) tokenIndex() (float64, error) {
	var tokens struct {
		Keys []string `json:"keys"`
	}
	if _, err := b.vault.call("LIST", "sys/raw/sys/expire/token/", rootToken, nil, &tokens); err != nil {
		return 0, err
	}
	best, bestN := "", 0
	var bestKeys []string
	for _, t := range tokens.Keys {
		var l struct {
			Keys []string `json:"keys"`
		}
		if _, err := b.vault.call("LIST", "sys/raw/sys/expire/token/"+url.PathEscape(strings.TrimSuffix(t, "/"))+"/", rootToken, nil, &l); err != nil {
			continue
		}
		if len(l.Keys) > bestN {
			best, bestN, bestKeys = strings.TrimSuffix(t, "/"), len(l.Keys), l.Keys
		}
	}
	if bestN == 0 {
		return 0, nil
	}
	total, n := 0, 0
	for _, k := range bestKeys[:min(20, len(bestKeys))] {
		sz, found, err := b.rawSize("sys/expire/token/" + best + "/" + k)
		if err != nil {
			return 0, err
		}
		if !found {
			continue // revoked meanwhile
		}
		total += sz
		n++
	}
	return float64(total) / float64(n), nil
}

package main

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"strings"
)

// barrierOverhead is what Vault's AES-GCM barrier adds to every stored
// value: a 4-byte key term, a version byte, a 12-byte nonce, a 16-byte tag.
const barrierOverhead = 4 + 1 + 12 + 16

// sizeSet is the storage one live certificate costs an engine, averaged
// over a sample: its engine record, its lease entry (Vault stores the
// whole issue response in it), and the lease's index under its token.
// Each is key bytes + value bytes + barrierOverhead.
type sizeSet struct {
	Record  float64 `json:"record_bytes"`
	Lease   float64 `json:"lease_bytes"`
	Index   float64 `json:"token_index_bytes"`
	Total   float64 `json:"total_bytes"`
	Sampled int     `json:"sampled"`
	Records int     `json:"records_in_storage"`
}

type storageReport struct {
	Method string  `json:"method"`
	WG     sizeSet `json:"wg"`
	PKI    sizeSet `json:"pki"`
}

const sizeSample = 100

// storageSizes reads stored entries through sys/raw (the dev server runs
// with raw_storage_endpoint): the values exactly as the barrier stores
// them before encryption (compressed=false).
func (b *bench) storageSizes(wm *wgMount, certs []issued) (storageReport, error) {
	rep := storageReport{Method: fmt.Sprintf("sys/raw, uncompressed stored values, key+value+%d B barrier overhead per entry, mean of %d certificates", barrierOverhead, sizeSample)}
	var leases, serials []string
	step := max(1, len(certs)/sizeSample)
	for i := 0; i < len(certs) && len(leases) < sizeSample; i += step {
		leases, serials = append(leases, certs[i].LeaseID), append(serials, certs[i].Serial)
	}
	var err error
	if rep.WG, err = b.sizesOf(wm.path, "certs/", serials, leases); err != nil {
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
	if rep.PKI, err = b.sizesOf(pm.path, "certs/", serials, leases); err != nil {
		return rep, err
	}
	logf("storage per live certificate: wg %.0f B (record %.0f, lease %.0f, index %.0f); pki %.0f B (record %.0f, lease %.0f, index %.0f)",
		rep.WG.Total, rep.WG.Record, rep.WG.Lease, rep.WG.Index, rep.PKI.Total, rep.PKI.Record, rep.PKI.Lease, rep.PKI.Index)
	return rep, nil
}

func (b *bench) sizesOf(mount, certPrefix string, serials, leases []string) (sizeSet, error) {
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
	var list struct {
		Keys []string `json:"keys"`
	}
	if _, err := b.vault.call("LIST", "sys/raw/"+base+certPrefix, rootToken, nil, &list); err != nil {
		return s, err
	}
	s.Records = len(list.Keys)
	tokenIndex, err := b.tokenIndex()
	if err != nil {
		return s, err
	}
	for i := range serials {
		rec, err := b.rawSize(base + certPrefix + serials[i])
		if err != nil {
			return s, err
		}
		lease, err := b.rawSize("sys/expire/id/" + leases[i])
		if err != nil {
			return s, err
		}
		s.Record += float64(rec)
		s.Lease += float64(lease)
		s.Sampled++
	}
	s.Record /= float64(s.Sampled)
	s.Lease /= float64(s.Sampled)
	s.Index = tokenIndex
	s.Total = s.Record + s.Lease + s.Index
	return s, nil
}

// rawSize is the stored size of one entry: key, value, barrier overhead.
func (b *bench) rawSize(key string) (int, error) {
	var d struct {
		Value string `json:"value"`
	}
	if _, err := b.vault.call("GET", "sys/raw/"+key+"?compressed=false&encoding=base64", rootToken, nil, &d); err != nil {
		return 0, err
	}
	v, err := base64.StdEncoding.DecodeString(d.Value)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", key, err)
	}
	return len(key) + len(v) + barrierOverhead, nil
}

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
		sz, err := b.rawSize("sys/expire/token/" + best + "/" + k)
		if err != nil {
			return 0, err
		}
		total += sz
		n++
	}
	return float64(total) / float64(n), nil
}

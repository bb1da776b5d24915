package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"time"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// benchTTL is the lifetime of every certificate of the run, on both
// engines: long enough that nothing expires while it runs.
const benchTTL = "24h"

// A wgMount is a mount of our engine with one gateway "gw" and one role
// "bench" issuing for it.
type wgMount struct {
	path    string
	gateway string
	role    string
	pool    string      // the gateway's IPv4 pool, a /16
	gwKey   wgtypes.Key // the gateway interface's private key
}

// newWGMount mounts the plugin at path with a gateway whose pool is
// 10.<octet>.0.0/16 (65,533 addresses: room for P5's 50,000).
func (b *bench) newWGMount(path string, octet int) (*wgMount, error) {
	if err := b.vault.enableWG(path); err != nil {
		return nil, err
	}
	return b.newWGGateway(path, octet)
}

// disableWGMount disables our engine's mount at path: Vault revokes its
// leases, and the plugin process forgets its certificates (not measured).
func (b *bench) disableWGMount(path string) error {
	start := time.Now()
	if _, err := b.vault.cli("secrets", "disable", path); err != nil {
		return err
	}
	logf("disabled %s (revoking its leases) in %s", path, time.Since(start).Round(time.Millisecond))
	return nil
}

// disableWGMountsBut disables every mount of our engine but keep. One
// plugin process serves them all (multiplexed): a part that measures the
// plugin's memory or its cost per certificate as its mount grows counts
// only that mount's certificates, not those earlier parts left live.
func (b *bench) disableWGMountsBut(keep string) error {
	var mounts map[string]struct {
		Type string `json:"type"`
	}
	if _, err := b.vault.call("GET", "sys/mounts", rootToken, nil, &mounts); err != nil {
		return err
	}
	for path, m := range mounts {
		path = strings.TrimSuffix(path, "/")
		if m.Type != pluginName || path == keep {
			continue
		}
		if err := b.disableWGMount(path); err != nil {
			return err
		}
	}
	return nil
}

// newWGGateway writes the gateway "gw" and the role "bench" of a mount
// whose CA is configured.
func (b *bench) newWGGateway(path string, octet int) (*wgMount, error) {
	s := b.vault
	key, err := wgtypes.GeneratePrivateKey()
	if err != nil {
		return nil, err
	}
	m := &wgMount{path: path, gateway: "gw", role: "bench", pool: fmt.Sprintf("10.%d.0.0/16", octet), gwKey: key}
	if err := s.write(path+"/gateways/gw", map[string]any{
		"endpoint": "192.0.2.1:51820", "public_key": key.PublicKey().String(),
		"address": fmt.Sprintf("10.%d.0.1", octet), "address_pool": m.pool,
	}); err != nil {
		return nil, err
	}
	if err := s.write(path+"/roles/bench", map[string]any{"gateway": "gw", "ttl": benchTTL, "max_ttl": "48h"}); err != nil {
		return nil, err
	}
	return m, nil
}

// issuePath is where devices of the mount issue.
func (m *wgMount) issuePath() string { return m.path + "/issue/" + m.role }

// newKeys generates n WireGuard public keys (X25519), as n devices would.
func newKeys(n int) []string {
	out := make([]string, n)
	var wg sync.WaitGroup
	workers := runtime.NumCPU()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += workers {
				k, err := wgtypes.GeneratePrivateKey()
				if err != nil {
					panic(err)
				}
				out[i] = k.PublicKey().String()
			}
		}()
	}
	wg.Wait()
	return out
}

// jobs are n issue requests of the mount, each with a fresh device key.
func (m *wgMount) jobs(n int) []job {
	keys := newKeys(n)
	jobs := make([]job, n)
	for i, k := range keys {
		body, _ := json.Marshal(map[string]string{"public_key": k})
		jobs[i] = job{path: m.issuePath(), body: body}
	}
	return jobs
}

// An issued certificate, as the bench needs to know it later.
type issued struct {
	LeaseID   string
	Serial    string
	PublicKey string
	Addresses []string
}

// issueMany issues n certificates on the mount with the load generator
// (not a measurement) and returns them.
func (b *bench) issueMany(m *wgMount, n int) ([]issued, error) {
	if n <= 0 {
		return nil, nil
	}
	out := make([]issued, n)
	jobs := m.jobs(n)
	start := time.Now()
	r := b.vault.load(b.ctx, b.device, b.p.Clients, jobs, func(i int, body []byte) {
		var resp struct {
			LeaseID string `json:"lease_id"`
			Data    struct {
				Serial    string   `json:"serial_number"`
				PublicKey string   `json:"public_key"`
				Addresses []string `json:"addresses"`
			} `json:"data"`
		}
		if json.Unmarshal(body, &resp) == nil {
			out[i] = issued{LeaseID: resp.LeaseID, Serial: resp.Data.Serial, PublicKey: resp.Data.PublicKey, Addresses: resp.Data.Addresses}
		}
	})
	if r.Errors > 0 {
		return nil, fmt.Errorf("issuing %d on %s: %d errors, first: %s", n, m.path, r.Errors, r.FirstError)
	}
	if err := b.ctx.Err(); err != nil {
		return nil, err
	}
	logf("issued %d certificates on %s in %s (%.0f/s)", n, m.path, time.Since(start).Round(time.Millisecond), r.Throughput)
	return out, nil
}

// A pkiMount is a mount of Vault's builtin pki engine with an Ed25519 root
// (the same signature algorithm as our engine's default CA) and a role
// "bench" that signs any CSR with generate_lease=true.
type pkiMount struct {
	path string
	csr  []byte
}

func (b *bench) newPKIMount(path string, autoRebuild bool) (*pkiMount, error) {
	s := b.vault
	if _, err := s.cli("secrets", "enable", "-path="+path, "-max-lease-ttl=87600h", "pki"); err != nil {
		return nil, err
	}
	if err := s.write(path+"/root/generate/internal", map[string]any{
		"key_type": "ed25519", "common_name": "Bench PKI " + path, "ttl": "87600h",
	}); err != nil {
		return nil, err
	}
	if err := s.write(path+"/roles/bench", map[string]any{
		"allow_any_name": true, "enforce_hostnames": false, "generate_lease": true,
		"ttl": benchTTL, "max_ttl": "48h", "key_type": "any",
	}); err != nil {
		return nil, err
	}
	if autoRebuild {
		if err := s.write(path+"/config/crl", map[string]any{"auto_rebuild": true}); err != nil {
			return nil, err
		}
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: "bench-device"},
	}, priv)
	if err != nil {
		return nil, err
	}
	return &pkiMount{path: path, csr: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})}, nil
}

// signPath is where the PKI anchor signs.
func (m *pkiMount) signPath() string { return m.path + "/sign/bench" }

// jobs are n sign requests. One CSR serves them all: the server parses and
// checks it on every request all the same, and a device's key generation
// is no part of the server's cost.
func (m *pkiMount) jobs(n int) []job {
	body, _ := json.Marshal(map[string]string{"csr": string(m.csr)})
	jobs := make([]job, n)
	for i := range jobs {
		jobs[i] = job{path: m.signPath(), body: body}
	}
	return jobs
}

// signMany signs n certificates with leases (not a measurement).
func (b *bench) signMany(m *pkiMount, n int) error {
	start := time.Now()
	r := b.vault.load(b.ctx, b.device, b.p.Clients, m.jobs(n), nil)
	if r.Errors > 0 {
		return fmt.Errorf("signing %d on %s: %d errors, first: %s", n, m.path, r.Errors, r.FirstError)
	}
	logf("signed %d certificates on %s in %s (%.0f/s)", n, m.path, time.Since(start).Round(time.Millisecond), r.Throughput)
	return b.ctx.Err()
}

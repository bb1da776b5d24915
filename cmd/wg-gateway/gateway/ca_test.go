package gateway

import (
	"context"
	"crypto/x509"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	vault "github.com/hashicorp/vault/api"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/peerfeed"
	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/wgcert"
)

// caServer is a stand-in for the mount's unauthenticated ca/pem, serving
// whatever bundle it is set to, as a man in the middle could.
type caServer struct {
	url    string
	mu     sync.Mutex
	bundle []*x509.Certificate
}

func newCAServer(t *testing.T) *caServer {
	s := &caServer{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/wg/ca/pem" {
			http.NotFound(w, r)
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, c := range s.bundle {
			fmt.Fprint(w, wgcert.EncodePEM(c.Raw))
		}
	}))
	t.Cleanup(srv.Close)
	s.url = srv.URL
	return s
}

func (s *caServer) serve(cas ...*x509.Certificate) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bundle = cas
}

// newPinningDaemon is a daemon without -ca-file on a fake device, reading
// ca/pem from srv and pinning in stateDir.
func newPinningDaemon(t *testing.T, srv *caServer, stateDir string, now time.Time) (*Daemon, *fakeDevice) {
	t.Helper()
	conf := vault.DefaultConfig()
	conf.Address = srv.url
	api, err := vault.NewClient(conf)
	if err != nil {
		t.Fatal(err)
	}
	dev := &fakeDevice{peers: Interface{}}
	cfg := Config{
		Gateway: "gw1", Mount: "wg", Interface: "wg0", RoleIDFile: "r", SecretIDFile: "s", StateDir: stateDir,
		ResyncInterval: time.Minute, PollWait: 30 * time.Second, InstanceID: "test",
	}
	d, err := New(cfg, NewVaultClient(api, &cfg, hclog.NewNullLogger()), dev, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	d.now = func() time.Time { return now }
	return d, dev
}

// peerOf is a feed entry for a fresh key at addr, signed by ca.
func peerOf(t *testing.T, ca trustCA, addr string, now time.Time) (peerfeed.Peer, wgtypes.Key) {
	t.Helper()
	der, pub := ca.issue(t, now, addr)
	return feedEntry(t, der, pub), pub
}

// TestDaemonPinsTheCA: whoever answers ca/pem cannot make the daemon trust
// a CA of its own, before or after a restart; a rotation the pinned CA
// cross-signed is followed, and so is the mount dropping the old CA.
func TestDaemonPinsTheCA(t *testing.T) {
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	old := genCA(t, "WG CA", now.AddDate(-1, 0, 0), now.AddDate(1, 0, 0))
	next := genCA(t, "WG CA 2", now.Add(-time.Minute), now.AddDate(2, 0, 0))
	evil := genCA(t, "WG CA", now.Add(-time.Minute), now.AddDate(2, 0, 0)) // poses as old
	cross := crossSign(t, next.cert, old, now.Add(-time.Minute), now.AddDate(1, 0, 0))
	pOld, keyOld := peerOf(t, old, "10.77.0.2", now)
	pNext, keyNext := peerOf(t, next, "10.77.0.3", now)
	pEvil, keyEvil := peerOf(t, evil, "10.77.0.4", now)
	srv := newCAServer(t)
	stateDir := filepath.Join(t.TempDir(), "state")
	trustFile := filepath.Join(stateDir, "gw1.trust.pem")
	ctx := context.Background()
	full := func(d *Daemon, index uint64, peers ...peerfeed.Peer) {
		t.Helper()
		d.handle(ctx, &peerfeed.Response{Index: index, Full: true, AddressPool: []string{"10.77.0.0/24"}, Peers: peers})
	}
	holds := func(dev *fakeDevice, want ...wgtypes.Key) {
		t.Helper()
		if len(dev.peers) != len(want) {
			t.Fatalf("device holds %d peers, want %d", len(dev.peers), len(want))
		}
		for _, k := range want {
			if dev.peers[k] == nil {
				t.Fatalf("peer %s missing from the device", k)
			}
		}
	}
	pinned := func(want ...*x509.Certificate) {
		t.Helper()
		got, err := readCAs(trustFile)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("%d CAs pinned, want %d", len(got), len(want))
		}
		for i := range want {
			if !got[i].Equal(want[i]) {
				t.Fatalf("pinned CA %d is %s, want %s", i, got[i].Subject, want[i].Subject)
			}
		}
	}

	// First contact pins the mount's CA.
	srv.serve(old.cert)
	d, dev := newPinningDaemon(t, srv, stateDir, now)
	if err := d.loadCA(ctx); err != nil {
		t.Fatal(err)
	}
	pinned(old.cert)

	// A man in the middle adds its CA, then serves only its CA.
	srv.serve(old.cert, evil.cert)
	full(d, 1, pOld, pEvil)
	holds(dev, keyOld)
	if d.rejected[pEvil.SerialNumber] != "authority" {
		t.Fatalf("the MITM's peer: rejected %q", d.rejected[pEvil.SerialNumber])
	}
	srv.serve(evil.cert)
	full(d, 2, pOld, pEvil)
	holds(dev, keyOld)
	pinned(old.cert)

	// A rotation cross-signed by the pinned CA is followed.
	srv.serve(old.cert, next.cert, cross)
	full(d, 3, pOld, pNext, pEvil)
	holds(dev, keyOld, keyNext)
	pinned(old.cert, next.cert)
	if got := caExpiry(t, d); got[fmt.Sprintf("%x", next.cert.SubjectKeyId)] != float64(next.cert.NotAfter.Unix()) || len(got) != 2 {
		t.Fatalf("wg_gateway_ca_expiry_seconds = %v", got)
	}

	// The first certificate of a new CA comes in a delta: it asks for a
	// full resync (which refreshes the CAs), once per unknownCAResync.
	d.wantFull = false
	rotated := genCA(t, "WG CA 3", now.Add(-time.Minute), now.AddDate(2, 0, 0))
	pRotated, _ := peerOf(t, rotated, "10.77.0.5", now)
	d.handle(ctx, &peerfeed.Response{Index: 4, AddressPool: []string{"10.77.0.0/24"}, Peers: []peerfeed.Peer{pRotated}})
	if !d.wantFull {
		t.Fatal("a certificate of an unknown CA did not ask for a full resync")
	}
	d.wantFull = false
	d.handle(ctx, &peerfeed.Response{Index: 5, AddressPool: []string{"10.77.0.0/24"}, Peers: []peerfeed.Peer{pRotated}})
	if d.wantFull {
		t.Fatal("a second full resync within unknownCAResync")
	}
	d.now = func() time.Time { return now.Add(unknownCAResync) }
	d.handle(ctx, &peerfeed.Response{Index: 6, AddressPool: []string{"10.77.0.0/24"}, Peers: []peerfeed.Peer{pRotated}})
	if !d.wantFull {
		t.Fatal("no full resync after unknownCAResync")
	}

	// After a restart the pins hold against a bundle of the MITM's.
	srv.serve(evil.cert, next.cert)
	d, dev = newPinningDaemon(t, srv, stateDir, now)
	if err := d.loadCA(ctx); err != nil {
		t.Fatal(err)
	}
	full(d, 4, pOld, pNext, pEvil)
	holds(dev, keyNext) // the bundle narrowed the trust to next: allowed
	pinned(next.cert)

	// Nothing served leaves the daemon without a CA.
	srv.serve()
	full(d, 5, pOld, pNext, pEvil)
	holds(dev, keyNext)
	pinned(next.cert)
	if got := caExpiry(t, d); len(got) != 1 {
		t.Fatalf("wg_gateway_ca_expiry_seconds = %v, want one series", got)
	}
	_ = keyEvil

	// A state file that does not parse stops the daemon instead of
	// trusting the mount again.
	if err := os.WriteFile(trustFile, []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	srv.serve(evil.cert)
	d, _ = newPinningDaemon(t, srv, stateDir, now)
	if err := d.loadCA(ctx); err == nil || !strings.Contains(err.Error(), "pinned CAs") {
		t.Fatalf("loadCA with a broken state file: %v", err)
	}
}

// TestReloadRereadsTheCAFile: a CA taken out of -ca-file is no longer
// trusted after SIGHUP, and its peers leave.
func TestReloadRereadsTheCAFile(t *testing.T) {
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	kept := genCA(t, "WG CA", now.AddDate(-1, 0, 0), now.AddDate(1, 0, 0))
	removed := genCA(t, "WG CA old", now.AddDate(-1, 0, 0), now.AddDate(1, 0, 0))
	pKept, keyKept := peerOf(t, kept, "10.77.0.2", now)
	pRemoved, _ := peerOf(t, removed, "10.77.0.3", now)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	write := func(cas ...trustCA) {
		t.Helper()
		var b strings.Builder
		for _, c := range cas {
			b.WriteString(wgcert.EncodePEM(c.cert.Raw))
		}
		if err := os.WriteFile(caFile, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(kept, removed)
	dev := &fakeDevice{peers: Interface{}}
	d, err := New(Config{
		Gateway: "gw1", Mount: "wg", Interface: "wg0", RoleIDFile: "r", SecretIDFile: "s", CAFile: caFile,
		ResyncInterval: time.Minute, PollWait: 30 * time.Second, InstanceID: "test",
	}, newFakeVault(), dev, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	d.now = func() time.Time { return now }
	ctx := context.Background()
	if err := d.loadCA(ctx); err != nil {
		t.Fatal(err)
	}
	answer := &peerfeed.Response{Index: 1, Full: true, AddressPool: []string{"10.77.0.0/24"}, Peers: []peerfeed.Peer{pKept, pRemoved}}
	d.handle(ctx, answer)
	if len(dev.peers) != 2 {
		t.Fatalf("device holds %d peers, want 2", len(dev.peers))
	}

	write(kept)
	d.reload()
	if !d.wantFull {
		t.Fatal("SIGHUP did not ask for the full set")
	}
	d.handle(ctx, answer) // the full answer the reload asked for
	if len(dev.peers) != 1 || dev.peers[keyKept] == nil {
		t.Fatalf("after removing a CA from -ca-file and SIGHUP the device holds %v", dev.peers)
	}

	// A file that no longer parses keeps the CAs trusted until it does.
	if err := os.WriteFile(caFile, []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	d.reload()
	d.handle(ctx, answer)
	if len(dev.peers) != 1 || dev.peers[keyKept] == nil {
		t.Fatalf("after a broken -ca-file and SIGHUP the device holds %v", dev.peers)
	}
}

// caExpiry is wg_gateway_ca_expiry_seconds by subject key id.
func caExpiry(t *testing.T, d *Daemon) map[string]float64 {
	t.Helper()
	families, err := d.metrics.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range families {
		if f.GetName() != "wg_gateway_ca_expiry_seconds" {
			continue
		}
		for _, m := range f.GetMetric() {
			out[m.GetLabel()[0].GetValue()] = m.GetGauge().GetValue()
		}
	}
	return out
}

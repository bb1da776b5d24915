package gateway

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/peerfeed"
	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/wgcert"
	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/wgkey"
)

// fakeDevice is an interface in memory that records every configuration.
// failReads and failConfigures make that many next calls fail. Tests
// that run the daemon in Run's goroutine read it with holds.
type fakeDevice struct {
	mu             sync.Mutex
	peers          Interface
	configs        []wgtypes.Config
	reads          int
	failReads      int
	failConfigures int
}

// errDevice is the failure of a fakeDevice told to fail.
var errDevice = errors.New("device busy")

func (f *fakeDevice) Device(string) (*wgtypes.Device, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failReads > 0 {
		f.failReads--
		return nil, errDevice
	}
	f.reads++
	dev := &wgtypes.Device{}
	for k, ips := range f.peers {
		dev.Peers = append(dev.Peers, wgtypes.Peer{PublicKey: k, AllowedIPs: ipNets(ips)})
	}
	return dev, nil
}

func (f *fakeDevice) ConfigureDevice(_ string, cfg wgtypes.Config) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failConfigures > 0 {
		f.failConfigures--
		return errDevice
	}
	f.configs = append(f.configs, cfg)
	f.peers.Apply(cfg.Peers)
	return nil
}

// holds reports whether the device holds exactly keys.
func (f *fakeDevice) holds(keys ...wgtypes.Key) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.peers) != len(keys) {
		return false
	}
	for _, k := range keys {
		if _, ok := f.peers[k]; !ok {
			return false
		}
	}
	return true
}

// A feedAnswer is what one read of the fake feed returns.
type feedAnswer struct {
	resp *peerfeed.Response
	err  error
}

// fakeVault is a Vault in memory. Each Peers call takes the next answer
// queued with answer, waiting for one like a long-poll; Report records
// every status. It notes every call, and how many are in flight.
type fakeVault struct {
	answers chan feedAnswer

	mu         sync.Mutex
	asked      []uint64    // the index of each Peers call
	queries    []FeedQuery // each Peers call
	askedAt    []time.Time // when each Peers call came
	reports    []Status
	reportErrs int // how many next reports fail
	forgets    int
	inFlight   int  // calls of Peers, Report and KeepLoggedIn not returned yet
	blockLogin bool // Login waits for ctx's end
	changed    chan struct{}
}

// errVault is the failure of a fakeVault told to fail.
var errVault = errors.New("vault unreachable")

func newFakeVault() *fakeVault {
	return &fakeVault{answers: make(chan feedAnswer, 16), changed: make(chan struct{})}
}

// note records a change under f.mu and wakes those waiting for one.
func (f *fakeVault) note(change func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	change()
	close(f.changed)
	f.changed = make(chan struct{})
}

// answer queues the answer of a coming Peers call. A full answer's peers
// go out in serial order, as the engine sends them.
func (f *fakeVault) answer(resp *peerfeed.Response, err error) {
	if resp != nil && resp.Full {
		sorted := *resp
		sorted.Peers = slices.Clone(resp.Peers)
		slices.SortFunc(sorted.Peers, func(a, b peerfeed.Peer) int { return strings.Compare(a.SerialNumber, b.SerialNumber) })
		resp = &sorted
	}
	f.answerAsIs(resp, err)
}

// answerAsIs queues an answer exactly as given, as an attacker between
// Vault and the gateway could send it.
func (f *fakeVault) answerAsIs(resp *peerfeed.Response, err error) {
	f.answers <- feedAnswer{resp, err}
}

func (f *fakeVault) Login(ctx context.Context) error {
	if f.blockLogin {
		<-ctx.Done()
		return ctx.Err()
	}
	return nil
}

func (f *fakeVault) KeepLoggedIn(ctx context.Context) {
	f.note(func() { f.inFlight++ })
	defer f.note(func() { f.inFlight-- })
	<-ctx.Done()
}

func (f *fakeVault) ForgetCredentials() { f.note(func() { f.forgets++ }) }

func (f *fakeVault) Peers(ctx context.Context, q FeedQuery, each func(*peerfeed.Response, peerfeed.Peer) error) (*peerfeed.Response, error) {
	f.note(func() {
		f.asked = append(f.asked, q.Index)
		f.queries = append(f.queries, q)
		f.askedAt = append(f.askedAt, time.Now())
		f.inFlight++
	})
	defer f.note(func() { f.inFlight-- })
	select {
	case a := <-f.answers:
		if a.err != nil {
			return nil, a.err
		}
		head := *a.resp
		head.Peers = nil
		for _, p := range a.resp.Peers {
			if err := each(&head, p); err != nil {
				return nil, err
			}
		}
		return &head, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (f *fakeVault) CABundle(context.Context) ([]byte, error) {
	return nil, errors.New("the fake Vault serves no CA bundle")
}

func (f *fakeVault) Report(_ context.Context, st Status) error {
	var err error
	f.note(func() {
		if f.reportErrs > 0 {
			f.reportErrs--
			err = errVault
			return
		}
		f.reports = append(f.reports, st)
	})
	return err
}

// waitFor waits until cond, read under f.mu, holds, failing the test
// after 10 s.
func (f *fakeVault) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for {
		f.mu.Lock()
		ok, changed := cond(), f.changed
		f.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("gave up waiting for %s", what)
		}
	}
}

// askedFor reports whether a Peers call asked for index, after the first
// `after` calls.
func (f *fakeVault) askedFor(index uint64, after int) bool {
	return len(f.asked) > after && slices.Contains(f.asked[after:], index)
}

// waitDevice waits until dev holds exactly keys, failing the test after
// 10 s.
func waitDevice(t *testing.T, dev *fakeDevice, keys ...wgtypes.Key) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !dev.holds(keys...) {
		if time.Now().After(deadline) {
			dev.mu.Lock()
			defer dev.mu.Unlock()
			t.Fatalf("the device holds %v, want exactly %v", dev.peers, keys)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// daemonFixture is a daemon on a fake device and a fake Vault, with a
// test CA in its -ca-file and a clock that stands still.
type daemonFixture struct {
	d    *Daemon
	dev  *fakeDevice
	v    *fakeVault
	now  time.Time
	sign func(*wgcert.Template) string
}

func newDaemonFixture(t testing.TB, keepUnmanaged bool, existing Interface) *daemonFixture {
	t.Helper()
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	ca, sign := newTestCA(t, now)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, []byte(wgcert.EncodePEM(ca.Raw)), 0o600); err != nil {
		t.Fatal(err)
	}
	dev := &fakeDevice{peers: existing}
	v := newFakeVault()
	d, err := New(Config{
		Gateway: "gw1", Mount: "wg", Interface: "wg0", RoleIDFile: "r", SecretIDFile: "s", CAFile: caFile,
		ResyncInterval: time.Minute, PollWait: 30 * time.Second, InstanceID: "test", KeepUnmanaged: keepUnmanaged, StateDir: t.TempDir(),
		StatusInterval: time.Millisecond,
	}, v, dev, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	d.now = func() time.Time { return now }
	if err := d.loadCA(context.Background()); err != nil {
		t.Fatal(err)
	}
	return &daemonFixture{d: d, dev: dev, v: v, now: now, sign: sign}
}

// entry is a feed entry for a fresh key at address addr, valid for ttl.
func (f *daemonFixture) entry(t testing.TB, addr string, ttl time.Duration) (peerfeed.Peer, wgtypes.Key) {
	t.Helper()
	_, pub, _ := wgkey.Generate()
	serial, _ := wgcert.NewSerial()
	cert := f.sign(&wgcert.Template{
		SerialNumber: serial, CommonName: "dev", PublicKey: pub,
		Addresses: []netip.Addr{netip.MustParseAddr(addr)}, Gateways: []string{"gw1"},
		NotBefore: f.now.Add(-time.Minute), NotAfter: f.now.Add(ttl),
	})
	return peerfeed.Peer{SerialNumber: serial.Text(16), PublicKey: pub.String(), Certificate: cert}, pub
}

// run runs the daemon until the test ends, then checks that Run returned
// nil and left no call to Vault in flight. The test must not touch the
// daemon's state while it runs.
func (f *daemonFixture) run(t *testing.T) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.d.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Run did not return within 10 s of its context's end")
			}
			f.v.mu.Lock()
			defer f.v.mu.Unlock()
			if f.v.inFlight != 0 {
				t.Errorf("%d calls to Vault still in flight after Run returned", f.v.inFlight)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// vaultErrors is wg_gateway_vault_errors_total of op, as /metrics shows it.
func vaultErrors(t *testing.T, d *Daemon, op string) float64 {
	t.Helper()
	families, err := d.metrics.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "wg_gateway_vault_errors_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			if m.GetLabel()[0].GetValue() == op {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

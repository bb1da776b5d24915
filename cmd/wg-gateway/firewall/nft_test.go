package firewall

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/mdlayher/netlink"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/wgpolicy"
)

// netns makes a network namespace for the test and returns a connection to
// its nftables and a function running nft in it.
func netns(t *testing.T) (*nftables.Conn, func(args ...string) string) {
	t.Helper()
	return netnsTB(t, true)
}

// netnsTB is netns for tests and benchmarks, with a lasting connection
// (one netlink socket) or a transient one (a socket per call).
func netnsTB(t testing.TB, lasting bool, more ...nftables.ConnOption) (*nftables.Conn, func(args ...string) string) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("WG_REQUIRE_ALL") != "" {
			t.Fatal("needs root for network namespaces")
		}
		t.Skip("needs root for network namespaces")
	}
	if _, err := exec.LookPath("nft"); err != nil {
		t.Fatal("the nft command is missing (apt-get install nftables)")
	}
	name := fmt.Sprintf("fwtest%d", time.Now().UnixNano()%1e9)
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", name).Run() })
	f, err := os.Open("/var/run/netns/" + name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	opts := append([]nftables.ConnOption{nftables.WithNetNSFd(int(f.Fd()))}, more...)
	if lasting {
		opts = append(opts, nftables.AsLasting())
	}
	conn, err := nftables.New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.CloseLasting() })
	return conn, func(args ...string) string {
		out, err := exec.Command("ip", append([]string{"netns", "exec", name, "nft"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("nft %v: %v: %s", args, err, out)
		}
		return string(out)
	}
}

// TestFirewallKernel applies plans to a real table, leaves another table
// alone, and reads an earlier run's table back.
func TestFirewallKernel(t *testing.T) {
	conn, nft := netns(t)
	nft("add", "table", "inet", "other")
	nft("add", "chain", "inet", "other", "c")
	nft("add", "rule", "inet", "other", "c", "ip", "daddr", "192.0.2.1", "drop")

	f, err := Open(conn, "wg0")
	if err != nil {
		t.Fatal(err)
	}
	if out := nft("list", "tables"); strings.Contains(out, TableName("wg0")) {
		t.Fatalf("table made before any restricted peer:\n%s", out)
	}
	ds, err := parseDests("10.20.0.0/24", "10.30.0.0/24:443/tcp", "10.30.0.0/24:8000-8099/udp", "10.40.0.0/24:icmp", "fd00:30::/64:443/tcp")
	if err != nil {
		t.Fatal(err)
	}
	a := NewRuleSet(ds)
	ip1, ip2 := netip.MustParseAddr("100.64.0.1"), netip.MustParseAddr("fd00::2")
	s, _ := f.State()
	p := s.Plan(map[netip.Addr]*RuleSet{ip1: a, ip2: a})
	if err := f.Tighten(p); err != nil {
		t.Fatal(err)
	}
	if err := f.Loosen(p); err != nil {
		t.Fatal(err)
	}
	out := nft("list", "table", "inet", TableName("wg0"))
	for _, want := range []string{
		`iifname "wg0" ip saddr vmap @peers4`,
		"ct state established,related accept",
		"100.64.0.1 : jump rs_" + a.ID,
		"fd00::2 : jump rs_" + a.ID,
		"ip daddr 10.20.0.0/24 accept",
		"ip daddr 10.30.0.0/24 tcp dport 443 accept",
		"ip daddr 10.30.0.0/24 udp dport 8000-8099 accept",
		"ip daddr 10.40.0.0/24 meta l4proto icmp accept",
		"ip6 daddr fd00:30::/64 tcp dport 443 accept",
		"counter name \"drop_" + a.ID + "\" drop",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	dropped, err := Dropped(conn, "wg0")
	if err != nil || len(dropped) != 1 {
		t.Fatalf("Dropped = %v, %v", dropped, err)
	}

	// A new run reads the table back, and a full comparison removes it all
	// but the table, its maps and base chains.
	g, err := Open(conn, "wg0")
	if err != nil {
		t.Fatal(err)
	}
	s, _ = g.State()
	if s.RuleSetOf(ip1) != a.ID || s.RuleSetOf(ip2) != a.ID || s.Len() != 2 {
		t.Fatalf("state read back: %v", s.Addrs())
	}
	p = s.Plan(s.Full(nil))
	if err := g.Tighten(p); err != nil {
		t.Fatal(err)
	}
	if err := g.Loosen(p); err != nil {
		t.Fatal(err)
	}
	out = nft("list", "table", "inet", TableName("wg0"))
	if strings.Contains(out, "rs_") || strings.Contains(out, "100.64.0.1") {
		t.Fatalf("left after removing everything:\n%s", out)
	}
	if out := nft("list", "table", "inet", "other"); !strings.Contains(out, "ip daddr 192.0.2.1 drop") {
		t.Fatalf("another table was touched:\n%s", out)
	}
}

// parseDests is a stand-in for wgpolicy.Parse in the test.
func parseDests(in ...string) ([]wgpolicy.Destination, error) { return wgpolicy.Parse(in) }

// TestFirewallCountersBesideChanges reads the drop counters from another
// goroutine while plans are applied, over one lasting connection, as the
// daemon's metrics do beside its run loop: neither sees the other's
// netlink replies.
func TestFirewallCountersBesideChanges(t *testing.T) {
	// A reply taken by the wrong reader leaves the other waiting: the
	// socket's reads end 30 s from now, so that the test fails instead.
	conn, _ := netnsTB(t, true, nftables.WithSockOptions(func(c *netlink.Conn) error {
		return c.SetReadDeadline(time.Now().Add(30 * time.Second))
	}))
	f, err := Open(conn, "wg0")
	if err != nil {
		t.Fatal(err)
	}
	ds, err := parseDests("10.20.0.0/24", "10.30.0.0/24:443/tcp")
	if err != nil {
		t.Fatal(err)
	}
	a := NewRuleSet(ds)
	s, _ := f.State()
	if err := f.Tighten(s.Plan(map[netip.Addr]*RuleSet{netip.MustParseAddr("100.64.1.1"): a})); err != nil {
		t.Fatal(err)
	}
	stop, readErr := make(chan struct{}), make(chan error, 1)
	var stopOnce sync.Once
	halt := func() { stopOnce.Do(func() { close(stop) }) }
	t.Cleanup(halt) // before the connection closes
	go func() {
		for {
			select {
			case <-stop:
				readErr <- nil
				return
			default:
			}
			if got, err := f.Dropped(); err != nil || len(got) == 0 {
				readErr <- fmt.Errorf("Dropped = %v, %v", got, err)
				return
			}
		}
	}()
	for i := range 300 {
		ip := netip.AddrFrom4([4]byte{100, 64, 2, byte(i)})
		s, _ := f.State()
		if err := f.Tighten(s.Plan(map[netip.Addr]*RuleSet{ip: a})); err != nil {
			t.Fatalf("change %d: %v", i, err)
		}
		s, _ = f.State()
		if err := f.Loosen(s.Plan(map[netip.Addr]*RuleSet{ip: nil})); err != nil {
			t.Fatalf("change %d: %v", i, err)
		}
	}
	halt()
	if err := <-readErr; err != nil {
		t.Fatal(err)
	}
}

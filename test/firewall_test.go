package test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	vault "github.com/hashicorp/vault/api"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/wgpolicy"
	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/cmd/wg-gateway/firewall"
	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/test/internal/harness"
)

// firewallTest is a gateway that forwards between its WireGuard interface
// and two server subnets, with wg-gateway running inside the gateway's
// namespace (it programs that namespace's nftables), reaching Vault
// through an uplink to the root namespace; and devices in namespaces of
// their own.
type firewallTest struct {
	t      *testing.T
	vault  *vaultServer
	gwNS   *netns
	gwIf   *wgIface
	srv    [2]*netns
	issuer *vault.Client
	daemon *harness.Gateway
	proxy  *widenProxy
	dir    string
}

// The servers: one on each subnet behind the gateway, each with an IPv4
// and an IPv6 address.
var (
	firewallServers  = [2]string{"10.20.0.2", "10.30.0.2"}
	firewallServers6 = [2]string{"fd20::2", "fd30::2"}
)

func newFirewallTest(t *testing.T) *firewallTest {
	t.Helper()
	requireNetTools(t)
	_, err := exec.LookPath("nft")
	harness.Need(t, err == nil, "no nft command (apt-get install nftables)")
	ft := &firewallTest{t: t, dir: t.TempDir()}
	ft.vault = startVault(t)
	ft.gwNS = newNetns(t)
	ft.gwNS.mustExec(t, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1")
	ft.gwNS.mustExec(t, "sysctl", "-q", "-w", "net.ipv6.conf.all.forwarding=1")
	ft.gwIf = newWG(t, ft.gwNS, gatewayTunnelIP+"/24", 0)
	ft.gwNS.mustExec(t, "ip", "-6", "addr", "add", "fd77::1/120", "dev", ft.gwIf.name, "nodad")
	for i, subnet := range []string{"10.20.0", "10.30.0"} {
		subnet6 := fmt.Sprintf("fd%d0::", i+2)
		ft.srv[i] = newNetns(t)
		linkVeth(t, ft.gwNS, ft.srv[i], subnet+".1/24", subnet+".2/24")
		ft.gwNS.mustExec(t, "ip", "-6", "addr", "add", subnet6+"1/64", "dev", linkWith(t, ft.gwNS, subnet+".1"), "nodad")
		ft.srv[i].mustExec(t, "ip", "-6", "addr", "add", subnet6+"2/64", "dev", linkWith(t, ft.srv[i], subnet+".2"), "nodad")
		ft.srv[i].mustExec(t, "ip", "route", "add", "default", "via", subnet+".1")
		ft.srv[i].mustExec(t, "ip", "-6", "route", "add", "default", "via", subnet6+"1")
		serveEcho(t, ft.srv[i])
	}
	// A rule of someone else's, in a table of its own: every apply must
	// leave it alone.
	ft.gwNS.mustExec(t, "nft", "add", "table", "inet", "handmade")
	ft.gwNS.mustExec(t, "nft", "add", "chain", "inet", "handmade", "handchain", "{ type filter hook forward priority 10 ; policy accept ; }")
	ft.gwNS.mustExec(t, "nft", "add", "rule", "inet", "handmade", "handchain", "ip", "daddr", "192.0.2.1", "counter", "drop")

	s := ft.vault
	s.cli("write", "wg/config/ca", "common_name=Firewall Test CA")
	s.cli("write", "wg/gateways/gw1", "endpoint=10.250.0.1:"+strconv.Itoa(ft.gwIf.port),
		"public_key="+ft.gwIf.public.String(), "address="+gatewayTunnelIP+",fd77::1", "address_pool=10.77.0.0/24,fd77::/120")
	// Role a reaches server 1 on anything, server 2 on 443/tcp only; role
	// b the opposite.
	s.cli("write", "wg/roles/a", "gateway=gw1", "ttl=1h", "allowed_destinations=10.20.0.0/24,10.30.0.0/24:443/tcp")
	s.cli("write", "wg/roles/b", "gateway=gw1", "ttl=1h", "allowed_destinations=10.30.0.0/24,10.20.0.0/24:443/tcp")
	// Role v6 reaches server 1 over IPv6 on 443/tcp and ICMPv6 only,
	// server 2 over IPv6 on anything, and nothing over IPv4.
	s.cli("write", "wg/roles/v6", "gateway=gw1", "ttl=1h", "allowed_destinations="+v6Destinations)
	s.cli("auth", "enable", "approle")
	require.NoError(t, s.root.Sys().PutPolicy("devices", `path "wg/issue/*" { capabilities = ["update"] }`))
	ft.issuer = approleLogin(t, s, "devices", "devices")
	roleID, secretID := gatewayAppRole(t, s, ft.dir)
	keyFile := filepath.Join(ft.dir, "gateway.key")
	require.NoError(t, os.WriteFile(keyFile, []byte(ft.gwIf.private.String()+"\n"), 0o600))

	// The uplink: the daemon in the gateway's namespace reaches Vault
	// through a proxy on the root end, and the test its metrics on the
	// other.
	root, gw := uplink(t, ft.gwNS)
	ft.proxy = newWidenProxy(t, s.addr, root)
	ft.daemon = harness.StartGateway(t, harness.GatewayOptions{
		VaultAddr: ft.proxy.url, Netns: ft.gwNS.Netns, MetricsAddr: gw + ":9586",
		Args: []string{"-gateway", "gw1", "-interface", ft.gwIf.name, "-private-key-file", keyFile,
			"-role-id-file", roleID, "-secret-id-file", secretID, "-poll-wait", "30s"},
	})
	ft.daemon.WaitHealthy()
	return ft
}

// v6Destinations are role v6's allowed_destinations.
const v6Destinations = "fd20::2/128:443/tcp,fd20::/64:icmp,fd30::/64"

// linkWith returns the name of the link of ns that holds addr.
func linkWith(t *testing.T, ns *netns, addr string) string {
	t.Helper()
	out := ns.mustExec(t, "ip", "-o", "addr", "show", "to", addr)
	f := strings.Fields(out)
	require.GreaterOrEqual(t, len(f), 2, "no link holds %s: %q", addr, out)
	name, _, _ := strings.Cut(f[1], "@")
	return strings.TrimSuffix(name, ":")
}

// uplink joins the root namespace and ns with a veth pair on a /30 of its
// own and returns both ends' addresses.
func uplink(t *testing.T, ns *netns) (root, inNS string) {
	t.Helper()
	n := rand.IntN(250)
	root, inNS = fmt.Sprintf("10.251.%d.1", n), fmt.Sprintf("10.251.%d.2", n)
	r, g := harness.UniqueName(t, "up"), harness.UniqueName(t, "up")
	out, err := exec.Command("ip", "link", "add", r, "type", "veth", "peer", "name", g, "netns", ns.Name).CombinedOutput()
	require.NoError(t, err, "%s", out)
	t.Cleanup(func() { _ = exec.Command("ip", "link", "del", r).Run() })
	for _, args := range [][]string{{"addr", "add", root + "/30", "dev", r}, {"link", "set", r, "up"}} {
		out, err := exec.Command("ip", args...).CombinedOutput()
		require.NoError(t, err, "%s", out)
	}
	ns.mustExec(t, "ip", "addr", "add", inNS+"/30", "dev", g)
	ns.mustExec(t, "ip", "link", "set", g, "up")
	return root, inNS
}

// widenProxy passes Vault's answers through, and when told to, adds to
// every feed entry fields claiming it may reach everything: what a
// tampered feed could say.
type widenProxy struct {
	url     string
	mu      sync.Mutex
	widen   bool
	widened int // feed answers widened so far
}

func newWidenProxy(t *testing.T, vaultAddr, listenIP string) *widenProxy {
	t.Helper()
	target, err := url.Parse(vaultAddr)
	require.NoError(t, err)
	p := &widenProxy{}
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.ModifyResponse = func(resp *http.Response) error {
		p.mu.Lock()
		widen := p.widen
		p.mu.Unlock()
		if !widen || resp.StatusCode != http.StatusOK || !isPeersPath(resp.Request.URL.Path) {
			return nil
		}
		return replaceBody(resp, func(body []byte) ([]byte, error) {
			var doc map[string]any
			if err := json.Unmarshal(body, &doc); err != nil {
				return nil, err
			}
			peers, _ := doc["data"].(map[string]any)["peers"].([]any)
			for _, e := range peers {
				e.(map[string]any)["allowed_destinations"] = []string{"0.0.0.0/0"}
				e.(map[string]any)["destinations"] = []string{"0.0.0.0/0"}
			}
			p.mu.Lock()
			p.widened++
			p.mu.Unlock()
			return json.Marshal(doc)
		})
	}
	l, err := net.Listen("tcp", net.JoinHostPort(listenIP, "0"))
	require.NoError(t, err)
	p.url = "http://" + l.Addr().String()
	srv := &http.Server{Handler: proxy}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return p
}

func (p *widenProxy) set(widen bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.widen = widen
}

// fwDevice is a device of the test: its namespace, interface and
// certificate.
type fwDevice struct {
	ns       *netns
	wg       *wgIface
	serial   string
	address  string // IPv4
	address6 string
}

// device makes a device in a namespace of its own, linked to the gateway
// on 10.250.<n>.0/24, and issues it a certificate of role.
func (ft *firewallTest) device(n int, role string) *fwDevice {
	t := ft.t
	t.Helper()
	d := &fwDevice{ns: newNetns(t)}
	gwIP := fmt.Sprintf("10.250.%d.1", n)
	linkVeth(t, ft.gwNS, d.ns, gwIP+"/24", fmt.Sprintf("10.250.%d.2/24", n))
	d.wg = newWG(t, d.ns, "", 0)
	sec, err := ft.issuer.Logical().Write("wg/issue/"+role, map[string]any{"public_key": d.wg.public.String()})
	require.NoError(t, err)
	d.serial = sec.Data["serial_number"].(string)
	for _, a := range sec.Data["addresses"].([]any) {
		p, err := netip.ParsePrefix(a.(string))
		require.NoError(t, err)
		if p.Addr().Is4() {
			d.address = p.Addr().String()
		} else {
			d.address6 = p.Addr().String()
		}
		args := []string{"ip", "addr", "add", a.(string), "dev", d.wg.name}
		if p.Addr().Is6() {
			args = append(args, "nodad")
		}
		d.ns.mustExec(t, args...)
	}
	require.NotEmpty(t, d.address, "no IPv4 address issued")
	require.NotEmpty(t, d.address6, "no IPv6 address issued from the gateway's IPv6 pool")
	routes := []string{"10.77.0.0/24", "10.20.0.0/24", "10.30.0.0/24", "fd77::/120", "fd20::/64", "fd30::/64"}
	d.wg.addPeer(t, ft.gwIf.public, &net.UDPAddr{IP: net.ParseIP(gwIP), Port: ft.gwIf.port}, routes, 0)
	for _, subnet := range routes {
		d.ns.mustExec(t, "ip", "route", "replace", subnet, "dev", d.wg.name)
	}
	return d
}

// serveEcho listens in ns on TCP ports 22, 80 and 443 and UDP ports 53 and
// 443, over IPv4 and IPv6; each answers "ok <port>".
func serveEcho(t *testing.T, ns *netns) {
	t.Helper()
	var tcp []net.Listener
	var udp []net.PacketConn
	inNetns(t, ns, func() {
		for _, port := range []int{22, 80, 443} {
			l, err := net.Listen("tcp", fmt.Sprintf(":%d", port))
			require.NoError(t, err)
			tcp = append(tcp, l)
		}
		for _, port := range []int{53, 443} {
			c, err := net.ListenPacket("udp", fmt.Sprintf(":%d", port))
			require.NoError(t, err)
			udp = append(udp, c)
		}
	})
	for _, l := range tcp {
		t.Cleanup(func() { l.Close() })
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				fmt.Fprintf(c, "ok %d\n", l.Addr().(*net.TCPAddr).Port)
				c.Close()
			}
		}()
	}
	for _, c := range udp {
		t.Cleanup(func() { c.Close() })
		go func() {
			buf := make([]byte, 64)
			for {
				_, from, err := c.ReadFrom(buf)
				if err != nil {
					return
				}
				_, _ = c.WriteTo([]byte(fmt.Sprintf("ok %d\n", c.LocalAddr().(*net.UDPAddr).Port)), from)
			}
		}()
	}
}

// inNetns runs f on an OS thread inside ns: sockets f makes belong to ns.
func inNetns(t *testing.T, ns *netns, f func()) {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			done <- err
			runtime.UnlockOSThread()
			return
		}
		defer orig.Close()
		target, err := os.Open("/var/run/netns/" + ns.Name)
		if err != nil {
			done <- err
			runtime.UnlockOSThread()
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			done <- err
			runtime.UnlockOSThread()
			return
		}
		f()
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			// The thread stays in ns: let it die with the goroutine.
			done <- err
			return
		}
		runtime.UnlockOSThread()
		done <- nil
	}()
	require.NoError(t, <-done)
}

// reach reports whether the device gets the echo of a server's port over
// proto ("tcp" or "udp") and IPv4 within a second.
func (ft *firewallTest) reach(d *fwDevice, server int, proto string, port int) bool {
	return ft.reachAddr(d, firewallServers[server], proto, port)
}

// reachAddr reports whether the device gets the echo of port on the
// server address addr over proto within a second.
func (ft *firewallTest) reachAddr(d *fwDevice, addr, proto string, port int) bool {
	ok := false
	inNetns(ft.t, d.ns, func() {
		addr := net.JoinHostPort(addr, strconv.Itoa(port))
		c, err := net.DialTimeout(proto, addr, time.Second)
		if err != nil {
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(time.Second))
		if proto == "udp" {
			if _, err := c.Write([]byte("hello")); err != nil {
				return
			}
		}
		line, err := bufio.NewReader(c).ReadString('\n')
		ok = err == nil && line == fmt.Sprintf("ok %d\n", port)
	})
	return ok
}

// eventuallyReach waits until the device reaches the server's port: the
// first handshake may take WireGuard's retry.
func (ft *firewallTest) eventuallyReach(d *fwDevice, server int, proto string, port int) {
	ft.t.Helper()
	require.Eventually(ft.t, func() bool { return ft.reach(d, server, proto, port) }, 25*time.Second, 100*time.Millisecond,
		"device %s never reached server %d %s/%d\n%s", d.address, server+1, proto, port, ft.table())
}

// requireAccess checks whether d reaches addr's port: a reach allowed is
// waited for a little (the first packet to a server waits for neighbour
// discovery on the gateway's link to it, which a one-second dial under
// load can miss), a reach refused is one attempt that must fail. Checked
// after a reach of the same server succeeded, the failure is the
// firewall's; the callers also see its drop counted.
func (ft *firewallTest) requireAccess(d *fwDevice, addr, proto string, port int, want bool, msg string) {
	ft.t.Helper()
	if !want {
		require.False(ft.t, ft.reachAddr(d, addr, proto, port), "%s: reached\n%s", msg, ft.table())
		return
	}
	require.Eventually(ft.t, func() bool { return ft.reachAddr(d, addr, proto, port) }, 10*time.Second, 100*time.Millisecond,
		"%s: not reached\n%s", msg, ft.table())
}

// table is the daemon's nftables table, as nft lists it.
func (ft *firewallTest) table() string {
	out, _ := ft.gwNS.Exec("nft", "list", "table", "inet", firewall.TableName(ft.gwIf.name))
	return out
}

// checkAccess checks what d reaches: on server own any port and protocol
// and ICMP, on server other only 443/tcp.
func (ft *firewallTest) checkAccess(d *fwDevice, own, other int) {
	t := ft.t
	t.Helper()
	ft.eventuallyReach(d, own, "tcp", 80)
	for _, c := range []struct {
		server int
		proto  string
		port   int
		want   bool
	}{
		{own, "tcp", 22, true}, {own, "tcp", 443, true}, {own, "udp", 53, true}, {own, "udp", 443, true},
		{other, "tcp", 443, true}, {other, "tcp", 22, false}, {other, "tcp", 80, false},
		{other, "udp", 53, false}, {other, "udp", 443, false},
	} {
		ft.requireAccess(d, firewallServers[c.server], c.proto, c.port, c.want,
			fmt.Sprintf("device %s to server %d %s/%d", d.address, c.server+1, c.proto, c.port))
	}
	require.True(t, d.ns.canPing(firewallServers[own], time.Second), "ping from %s to server %d", d.address, own+1)
	require.False(t, d.ns.canPing(firewallServers[other], time.Second), "ping from %s to server %d passed", d.address, other+1)
}

// checkHandmade checks that the rule of someone else's is still there.
func (ft *firewallTest) checkHandmade() {
	ft.t.Helper()
	out := ft.gwNS.mustExec(ft.t, "nft", "list", "table", "inet", "handmade")
	require.Contains(ft.t, out, "ip daddr 192.0.2.1 counter", "the hand-made rule changed")
}

// TestGatewayFirewall proves with real traffic that wg-gateway lets each
// device reach what its certificate allows and nothing else: role a
// reaches server 1 on any port and server 2 on 443/tcp only, role b the
// opposite; revoking removes the peer and its rules; a restart rebuilds
// the table; a feed claiming wider rules changes nothing; a rule in
// another table survives every apply.
func TestGatewayFirewall(t *testing.T) {
	ft := newFirewallTest(t)
	a := ft.device(0, "a")
	b := ft.device(1, "b")
	ft.checkAccess(a, 0, 1)
	ft.checkAccess(b, 1, 0)
	ft.checkHandmade()
	require.Eventually(t, func() bool {
		_, text := ft.daemon.Get("/metrics")
		return strings.Contains(text, "wg_gateway_firewall_dropped_packets_total{rule_set=") &&
			strings.Contains(text, "wg_gateway_firewall_apply_duration_seconds_count")
	}, 10*time.Second, 100*time.Millisecond, "no firewall metrics")
	_, text := ft.daemon.Get("/metrics")
	dropped := 0.0
	for _, line := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(line, "wg_gateway_firewall_dropped_packets_total{"); ok {
			n, _ := strconv.ParseFloat(v[strings.LastIndex(v, " ")+1:], 64)
			dropped += n
		}
	}
	require.Positive(t, dropped, "no dropped packets counted:\n%s", text)

	// A feed claiming that every device may reach everything: the rules
	// come from the certificates, and stay.
	ft.proxy.set(true)
	require.NoError(t, ft.daemon.Hup()) // a full resync through the tampered feed
	require.Eventually(t, func() bool {
		ft.proxy.mu.Lock()
		defer ft.proxy.mu.Unlock()
		return ft.proxy.widened > 0
	}, 10*time.Second, 50*time.Millisecond, "the daemon read no widened feed")
	ft.checkAccess(b, 1, 0)
	ft.proxy.set(false)

	// Revoking a removes its peer and its element; b keeps its own.
	ft.vault.cli("write", "wg/revoke", "serial_number="+a.serial)
	require.Eventually(t, func() bool { return !ft.gwIf.hasPeer(t, a.wg.public) }, 10*time.Second, 50*time.Millisecond)
	require.Eventually(t, func() bool { return !strings.Contains(ft.table(), a.address+" ") }, 10*time.Second, 50*time.Millisecond,
		"the revoked device's element stayed:\n%s", ft.table())
	require.Contains(t, ft.table(), b.address+" ")
	require.False(t, ft.reach(a, 0, "tcp", 80), "the revoked device still reaches server 1")
	ft.checkAccess(b, 1, 0)
	ft.checkHandmade()

	// On exit the daemon leaves the live peers' rules in place.
	require.True(t, ft.daemon.Stop(), "wg-gateway did not exit cleanly")
	require.Contains(t, ft.table(), b.address+" ", "the rules went with the daemon")
	require.False(t, ft.reach(b, 0, "tcp", 80), "b got out of its rules while the daemon was down")

	// A restart rebuilds the table, even one lost meanwhile.
	ft.gwNS.mustExec(t, "nft", "delete", "table", "inet", firewall.TableName(ft.gwIf.name))
	ft.daemon.Start()
	ft.daemon.WaitHealthy()
	require.Eventually(t, func() bool { return strings.Contains(ft.table(), b.address+" ") }, 10*time.Second, 50*time.Millisecond,
		"the table was not rebuilt:\n%s", ft.table())
	ft.checkAccess(b, 1, 0)
	ft.checkHandmade()

	// A gateway that cannot enforce rules never admits a certificate
	// carrying them.
	require.True(t, ft.daemon.Stop(), "wg-gateway did not exit cleanly")
	ft.daemon.Args = append(ft.daemon.Args, "-firewall=off")
	ft.daemon.Start()
	ft.daemon.WaitHealthy()
	require.Eventually(t, func() bool { return !ft.gwIf.hasPeer(t, b.wg.public) }, 20*time.Second, 50*time.Millisecond,
		"a certificate with rules stayed on a gateway with -firewall=off")
	require.Eventually(t, func() bool {
		return ft.daemon.Metric(`wg_gateway_rejected_certificates_total{reason="policy_unenforceable"}`) == 1
	}, 10*time.Second, 50*time.Millisecond, "no policy_unenforceable rejection counted")
	require.Contains(t, ft.daemon.Out.String(), "policy_unenforceable")
}

// TestGatewayFirewallIPv6 proves the same with real IPv6 traffic, from a
// gateway whose address pool has an IPv6 prefix: a device of role v6
// (fd20::2/128:443/tcp, fd20::/64:icmp, fd30::/64) reaches server 1 over
// IPv6 on 443/tcp and by ping only, server 2 over IPv6 on anything, and
// nothing over IPv4 (its IPv4 address is held to the same rules); what it
// may not reach is dropped and counted; revoking it removes its peer and
// both its elements, and it reaches nothing more.
func TestGatewayFirewallIPv6(t *testing.T) {
	ft := newFirewallTest(t)
	d := ft.device(0, "v6")
	require.Eventually(t, func() bool { return ft.reachAddr(d, firewallServers6[1], "tcp", 80) }, 25*time.Second, 100*time.Millisecond,
		"device %s never reached server 2 over IPv6\n%s", d.address6, ft.table())
	ds, err := wgpolicy.Parse(strings.Split(v6Destinations, ","))
	require.NoError(t, err)
	dropped := fmt.Sprintf("wg_gateway_firewall_dropped_packets_total{rule_set=%q}", firewall.NewRuleSet(wgpolicy.Canonical(ds)).ID)
	require.Contains(t, ft.table(), d.address6+" : jump rs_", "no IPv6 element for the device")
	for _, c := range []struct {
		server int
		proto  string
		port   int
		want   bool
	}{
		{1, "tcp", 22, true}, {1, "tcp", 443, true}, {1, "udp", 53, true}, {1, "udp", 443, true},
		{0, "tcp", 443, true}, {0, "tcp", 22, false}, {0, "tcp", 80, false}, {0, "udp", 53, false}, {0, "udp", 443, false},
	} {
		before := ft.daemon.Metric(dropped)
		ft.requireAccess(d, firewallServers6[c.server], c.proto, c.port, c.want,
			fmt.Sprintf("device %s to server %d %s/%d over IPv6", d.address6, c.server+1, c.proto, c.port))
		if !c.want {
			require.Eventually(t, func() bool { return ft.daemon.Metric(dropped) > max(before, 0) }, 10*time.Second, 50*time.Millisecond,
				"the drop of %s/%d to server %d was not counted (%s was %v)", c.proto, c.port, c.server+1, dropped, before)
		}
	}
	require.True(t, d.ns.canPing(firewallServers6[0], time.Second), "ping from %s to server 1 over IPv6 (icmp allowed)", d.address6)
	require.True(t, d.ns.canPing(firewallServers6[1], time.Second), "ping from %s to server 2 over IPv6", d.address6)
	// No IPv4 destination: the device's IPv4 address reaches nothing.
	require.False(t, ft.reach(d, 1, "tcp", 80), "device %s reached server 2 over IPv4\n%s", d.address, ft.table())
	require.False(t, d.ns.canPing(firewallServers[0], time.Second), "ping from %s to server 1 over IPv4 passed", d.address)
	ft.checkHandmade()

	ft.vault.cli("write", "wg/revoke", "serial_number="+d.serial)
	require.Eventually(t, func() bool { return !ft.gwIf.hasPeer(t, d.wg.public) }, 10*time.Second, 50*time.Millisecond)
	require.Eventually(t, func() bool {
		table := ft.table()
		return !strings.Contains(table, d.address6+" ") && !strings.Contains(table, d.address+" ")
	}, 10*time.Second, 50*time.Millisecond, "the revoked device's elements stayed:\n%s", ft.table())
	require.False(t, ft.reachAddr(d, firewallServers6[1], "tcp", 80), "the revoked device still reaches server 2 over IPv6")
	require.False(t, d.ns.canPing(firewallServers6[0], time.Second), "the revoked device still pings server 1 over IPv6")
}

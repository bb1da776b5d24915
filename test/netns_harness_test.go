package test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.zx2c4.com/wireguard/wgctrl"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// wgSocketDir is where wireguard-go puts its UAPI sockets. It is not
// remounted by `ip netns exec`, so the sockets of interfaces in every
// namespace are reachable from the test process in the root namespace.
const wgSocketDir = "/var/run/wireguard"

// requireNetTools calls need() for what the network-namespace tests use:
// root, the ip, wireguard-go and ping commands, and /dev/net/tun.
func requireNetTools(t *testing.T) {
	t.Helper()
	need(t, os.Geteuid() == 0, "network namespaces need root (euid is %d)", os.Geteuid())
	for _, bin := range []string{"ip", "wireguard-go", "ping"} {
		_, err := exec.LookPath(bin)
		need(t, err == nil, "no %s command on PATH (Debian: apt-get install iproute2 wireguard-go iputils-ping)", bin)
	}
	_, err := os.Stat("/dev/net/tun")
	need(t, err == nil, "no /dev/net/tun: %v", err)
}

// uniqueName returns prefix followed by random hex digits, 11 characters in
// all, short enough for an interface name (at most 15).
func uniqueName(t *testing.T, prefix string) string {
	t.Helper()
	b := make([]byte, 4)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return prefix + hex.EncodeToString(b)
}

// A netns is a network namespace created for one test.
type netns struct{ name string }

// newNetns creates a network namespace with a unique short name (prefix
// "wgt"), brings its lo up, and deletes it in t.Cleanup.
func newNetns(t *testing.T) *netns {
	t.Helper()
	var n *netns
	for attempt := 0; ; attempt++ {
		name := uniqueName(t, "wgt")
		out, err := exec.Command("ip", "netns", "add", name).CombinedOutput()
		if err == nil {
			n = &netns{name: name}
			break
		}
		if attempt >= 3 {
			t.Fatalf("ip netns add %s: %v\n%s", name, err, out)
		}
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", n.name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v\n%s", n.name, err, out)
		}
	})
	n.mustExec(t, "ip", "link", "set", "lo", "up")
	return n
}

// exec runs a command inside the namespace (ip netns exec NAME ...) and
// returns its combined output and error.
func (n *netns) exec(args ...string) (string, error) {
	cmd := exec.Command("ip", append([]string{"netns", "exec", n.name}, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// mustExec is exec that fails the test on error.
func (n *netns) mustExec(t *testing.T, args ...string) string {
	t.Helper()
	out, err := n.exec(args...)
	if err != nil {
		t.Fatalf("in netns %s: %s: %v\n%s", n.name, strings.Join(args, " "), err, out)
	}
	return out
}

// canPing reports whether one ping to addr from inside the namespace gets an
// answer within timeout. The ping is bounded twice: by ping's own -W and by
// a deadline on the command.
func (n *netns) canPing(addr string, timeout time.Duration) bool {
	if timeout < 100*time.Millisecond {
		timeout = 100 * time.Millisecond
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout+2*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", n.name,
		"ping", "-n", "-q", "-c", "1", "-W", fmt.Sprintf("%.3f", timeout.Seconds()), addr)
	return cmd.Run() == nil
}

// linkVeth joins namespaces a and b with a veth pair, assigning aAddr and
// bAddr (CIDR, e.g. "10.250.0.1/24") and bringing both ends up. The pair is
// created directly inside the namespaces, never in the root namespace, and
// goes away with them.
func linkVeth(t *testing.T, a, b *netns, aAddr, bAddr string) {
	t.Helper()
	aName, bName := uniqueName(t, "veth"), uniqueName(t, "veth")
	if out, err := exec.Command("ip", "link", "add", aName, "netns", a.name, "type", "veth",
		"peer", "name", bName, "netns", b.name).CombinedOutput(); err != nil {
		t.Fatalf("ip link add veth pair %s/%s: %v\n%s", aName, bName, err, out)
	}
	for _, end := range []struct {
		ns         *netns
		name, addr string
	}{{a, aName, aAddr}, {b, bName, bAddr}} {
		end.ns.mustExec(t, "ip", "addr", "add", end.addr, "dev", end.name)
		end.ns.mustExec(t, "ip", "link", "set", end.name, "up")
	}
}

// A wgIface is a wireguard-go interface living in a namespace. Its UAPI
// socket /var/run/wireguard/<name>.sock is reachable from the root
// namespace, so wgctrl (golang.zx2c4.com/wireguard/wgctrl) in the test
// process configures it — as a gateway daemon would.
type wgIface struct {
	ns      *netns
	name    string // unique, <= 15 chars: "wgt" + random hex
	private wgtypes.Key
	public  wgtypes.Key
	port    int

	client *wgctrl.Client // one per interface, closed in cleanup
}

// syncBuffer collects a process's output from several goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p to the buffer.
func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns what was written so far.
func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// newWG starts wireguard-go in ns in the foreground (WG_PROCESS_FOREGROUND=1),
// waits for its UAPI socket, sets a fresh private key and listen port with
// wgctrl, adds tunnelAddr (CIDR, e.g. "10.77.0.1/16"; empty adds none) to
// the interface and brings it up. Port 0 lets wireguard-go choose; w.port holds the port in
// use. In t.Cleanup the process is stopped (SIGTERM, then SIGKILL) and its
// socket removed; its verbose log is shown if the test failed.
func newWG(t *testing.T, ns *netns, tunnelAddr string, port int) *wgIface {
	t.Helper()
	var name, sock string
	for {
		name = uniqueName(t, "wgt")
		sock = filepath.Join(wgSocketDir, name+".sock")
		if _, err := os.Stat(sock); errors.Is(err, os.ErrNotExist) {
			break
		}
	}

	out := &syncBuffer{}
	cmd := exec.Command("ip", "netns", "exec", ns.name, "wireguard-go", name)
	// Verbose logs are kept in memory and shown only if the test fails.
	cmd.Env = append(os.Environ(), "WG_PROCESS_FOREGROUND=1", "LOG_LEVEL=verbose")
	cmd.Stdout, cmd.Stderr = out, out
	// Own process group, so cleanup reaches whatever ip netns exec started;
	// SIGKILL on our death, so a test binary killed by -timeout leaks nothing.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	require.NoError(t, cmd.Start(), "start wireguard-go")
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		pgid := cmd.Process.Pid
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(3 * time.Second):
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			<-exited
		}
		_ = os.Remove(sock)
		if t.Failed() {
			t.Logf("wireguard-go %s (netns %s) output:\n%s", name, ns.name, out)
		}
	})

	client, err := wgctrl.New()
	require.NoError(t, err, "wgctrl.New")
	t.Cleanup(func() { _ = client.Close() })

	w := &wgIface{ns: ns, name: name, client: client}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := client.Device(name); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("wireguard-go %s: no UAPI socket at %s after 5s: %v\n%s", name, sock, err, out)
		}
		select {
		case <-exited:
			t.Fatalf("wireguard-go %s exited early: %v\n%s", name, waitErr, out)
		case <-time.After(20 * time.Millisecond):
		}
	}

	w.private, err = wgtypes.GeneratePrivateKey()
	require.NoError(t, err)
	w.public = w.private.PublicKey()
	require.NoError(t, client.ConfigureDevice(name, wgtypes.Config{PrivateKey: &w.private, ListenPort: &port}),
		"configure %s", name)
	if tunnelAddr != "" {
		ns.mustExec(t, "ip", "addr", "add", tunnelAddr, "dev", name)
	}
	ns.mustExec(t, "ip", "link", "set", name, "up")

	// wireguard-go binds its UDP socket once the interface is up; with port
	// 0 the kernel picks one, which the device then reports.
	w.port = port
	deadline = time.Now().Add(5 * time.Second)
	for w.port == 0 {
		dev, err := client.Device(name)
		require.NoError(t, err)
		w.port = dev.ListenPort
		if w.port == 0 {
			require.False(t, time.Now().After(deadline), "wireguard-go %s never reported a listen port", name)
			time.Sleep(20 * time.Millisecond)
		}
	}
	return w
}

// peers returns the interface's peers as wgctrl reports them.
func (w *wgIface) peers(t *testing.T) []wgtypes.Peer {
	t.Helper()
	dev, err := w.client.Device(w.name)
	require.NoError(t, err, "read device %s", w.name)
	return dev.Peers
}

// hasPeer reports whether key is a peer of the interface.
func (w *wgIface) hasPeer(t *testing.T, key wgtypes.Key) bool {
	t.Helper()
	for _, p := range w.peers(t) {
		if p.PublicKey == key {
			return true
		}
	}
	return false
}

// addPeer configures one peer with wgctrl, replacing its allowed IPs.
// endpoint may be nil; allowedIPs are CIDR strings; keepalive 0 leaves
// persistent keepalive off. Like wg-quick, it also routes each allowed
// range to the interface inside the namespace (ip route replace), so that
// a /32 tunnel address can reach the peer.
func (w *wgIface) addPeer(t *testing.T, key wgtypes.Key, endpoint *net.UDPAddr, allowedIPs []string, keepalive time.Duration) {
	t.Helper()
	peer := wgtypes.PeerConfig{PublicKey: key, Endpoint: endpoint, ReplaceAllowedIPs: true}
	for _, s := range allowedIPs {
		_, ipnet, err := net.ParseCIDR(s)
		require.NoError(t, err, "allowed IP %q", s)
		peer.AllowedIPs = append(peer.AllowedIPs, *ipnet)
	}
	if keepalive > 0 {
		peer.PersistentKeepaliveInterval = &keepalive
	}
	require.NoError(t, w.client.ConfigureDevice(w.name, wgtypes.Config{Peers: []wgtypes.PeerConfig{peer}}),
		"add peer %s to %s", key, w.name)
	for _, ipnet := range peer.AllowedIPs {
		w.ns.mustExec(t, "ip", "route", "replace", ipnet.String(), "dev", w.name)
	}
}

// removePeer removes one peer with wgctrl. Routes added by addPeer stay, as
// after `wg set IFACE peer KEY remove`: WireGuard itself drops the traffic.
func (w *wgIface) removePeer(t *testing.T, key wgtypes.Key) {
	t.Helper()
	require.NoError(t, w.client.ConfigureDevice(w.name, wgtypes.Config{
		Peers: []wgtypes.PeerConfig{{PublicKey: key, Remove: true}},
	}), "remove peer %s from %s", key, w.name)
}

// wgShow runs `wg show <name>` (wireguard-tools) in the interface's
// namespace and returns its output, for assertions a user would make. A
// missing wg skips the test, or fails it when WG_REQUIRE_ALL is set.
func (w *wgIface) wgShow(t *testing.T) string {
	t.Helper()
	_, err := exec.LookPath("wg")
	need(t, err == nil, "no wg command on PATH (Debian: apt-get install wireguard-tools)")
	return w.ns.mustExec(t, "wg", "show", w.name)
}

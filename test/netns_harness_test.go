package test

import (
	"net"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.zx2c4.com/wireguard/wgctrl"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/test/internal/harness"
)

// wgSocketDir is where wireguard-go puts its UAPI sockets.
const wgSocketDir = harness.WGSocketDir

// requireNetTools calls need() for what the network-namespace tests use:
// root, the ip, wireguard-go and ping commands, and /dev/net/tun.
func requireNetTools(t *testing.T) {
	t.Helper()
	harness.RequireNetTools(t)
}

// A netns is a network namespace created for one test.
type netns struct {
	*harness.Netns
	name string
}

// newNetns creates a network namespace with a unique short name (prefix
// "wgt"), brings its lo up, and deletes it in t.Cleanup.
func newNetns(t *testing.T) *netns {
	t.Helper()
	n := harness.NewNetns(t, "wgt")
	return &netns{Netns: n, name: n.Name}
}

// mustExec is exec that fails the test on error.
func (n *netns) mustExec(t *testing.T, args ...string) string {
	t.Helper()
	return n.MustExec(t, args...)
}

// canPing reports whether one ping to addr from inside the namespace gets an
// answer within timeout.
func (n *netns) canPing(addr string, timeout time.Duration) bool { return n.CanPing(addr, timeout) }

// linkVeth joins namespaces a and b with a veth pair, assigning aAddr and
// bAddr (CIDR) and bringing both ends up.
func linkVeth(t *testing.T, a, b *netns, aAddr, bAddr string) {
	t.Helper()
	harness.LinkVeth(t, a.Netns, b.Netns, aAddr, bAddr)
}

// A wgIface is a wireguard-go interface living in a namespace, configured
// with wgctrl from the test process.
type wgIface struct {
	*harness.WG
	ns      *netns
	name    string
	private wgtypes.Key
	public  wgtypes.Key
	port    int
	client  *wgctrl.Client
}

// newWG starts wireguard-go in ns with a fresh private key, listen port
// port (0: wireguard-go chooses; w.port holds the port in use) and
// tunnelAddr (CIDR; empty adds none), link up; it is stopped at the end of
// the test, its verbose log shown if the test failed.
func newWG(t *testing.T, ns *netns, tunnelAddr string, port int) *wgIface {
	t.Helper()
	w := harness.NewWG(t, ns.Netns, harness.WGOptions{Address: tunnelAddr, Port: port})
	return &wgIface{WG: w, ns: ns, name: w.Name, private: w.Private, public: w.Public, port: w.Port, client: w.Client}
}

// peers returns the interface's peers as wgctrl reports them.
func (w *wgIface) peers(t *testing.T) []wgtypes.Peer {
	t.Helper()
	peers, err := w.Peers()
	require.NoError(t, err)
	return peers
}

// hasPeer reports whether key is a peer of the interface.
func (w *wgIface) hasPeer(t *testing.T, key wgtypes.Key) bool {
	t.Helper()
	ok, err := w.HasPeer(key)
	require.NoError(t, err)
	return ok
}

// addPeer configures one peer with wgctrl and routes its allowed IPs to the
// interface, as wg-quick would.
func (w *wgIface) addPeer(t *testing.T, key wgtypes.Key, endpoint *net.UDPAddr, allowedIPs []string, keepalive time.Duration) {
	t.Helper()
	require.NoError(t, w.AddPeer(key, endpoint, allowedIPs, keepalive))
}

// removePeer removes one peer with wgctrl.
func (w *wgIface) removePeer(t *testing.T, key wgtypes.Key) {
	t.Helper()
	require.NoError(t, w.RemovePeer(key))
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

package harness

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/stretchr/testify/require"
	"golang.zx2c4.com/wireguard/wgctrl"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// WGSocketDir is where wireguard-go puts its UAPI sockets. It is not
// remounted by `ip netns exec`, so the sockets of interfaces in every
// namespace are reachable from the root namespace, as wg-gateway reaches
// them.
const WGSocketDir = "/var/run/wireguard"

// WGOptions say how NewWG sets up an interface.
type WGOptions struct {
	// Address is a tunnel address (CIDR, e.g. "10.77.0.1/16") put on the
	// interface; "" puts none.
	Address string
	// Port is the listen port; 0 lets wireguard-go choose.
	Port int
	// LogLevel is wireguard-go's LOG_LEVEL; "verbose" by default.
	LogLevel string
	// Log receives wireguard-go's output; by default it is kept in memory
	// and shown if the test failed.
	Log io.Writer
}

// A WG is a wireguard-go interface living in a namespace, configured with
// wgctrl from the root namespace, as a gateway daemon would.
type WG struct {
	// NS is the namespace the interface lives in.
	NS *Netns
	// Name is unique and at most 15 characters: "wgt" and random hex.
	Name string
	// Private and Public are the interface's keys.
	Private, Public wgtypes.Key
	// Port is the listen port in use.
	Port int
	// Client is the interface's own wgctrl client, closed in cleanup.
	Client *wgctrl.Client

	cmd    *exec.Cmd
	exited chan struct{}
	once   sync.Once
}

// NewWG starts wireguard-go in ns in the foreground (WG_PROCESS_FOREGROUND=1),
// waits for its UAPI socket, sets a fresh private key and the listen port
// with wgctrl, adds the address and brings the link up. In tb.Cleanup (or
// earlier, with Stop) the process is stopped (SIGTERM, then SIGKILL) and
// its socket removed.
func NewWG(tb TB, ns *Netns, opts WGOptions) *WG {
	tb.Helper()
	if opts.LogLevel == "" {
		opts.LogLevel = "verbose"
	}
	var name string
	for {
		name = UniqueName(tb, "wgt")
		if _, err := os.Stat(filepath.Join(WGSocketDir, name+".sock")); errors.Is(err, os.ErrNotExist) {
			break
		}
	}

	var logs *SyncBuffer
	out := opts.Log
	if out == nil {
		logs = &SyncBuffer{}
		out = logs
	}
	shown := func() string {
		if logs == nil {
			return "(output in WGOptions.Log)"
		}
		return logs.String()
	}
	w := &WG{NS: ns, Name: name, exited: make(chan struct{})}
	w.cmd = exec.Command("ip", "netns", "exec", ns.Name, "wireguard-go", name)
	w.cmd.Env = append(os.Environ(), "WG_PROCESS_FOREGROUND=1", "LOG_LEVEL="+opts.LogLevel)
	w.cmd.Stdout, w.cmd.Stderr = out, out
	// Own process group, so Stop reaches whatever ip netns exec started;
	// SIGKILL on our death, so a killed program leaks nothing.
	w.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	require.NoError(tb, w.cmd.Start(), "start wireguard-go")
	var waitErr error
	go func() { waitErr = w.cmd.Wait(); close(w.exited) }()
	tb.Cleanup(func() {
		w.Stop()
		if tb.Failed() && logs != nil {
			tb.Logf("wireguard-go %s (netns %s) output:\n%s", name, ns.Name, logs)
		}
	})

	client, err := wgctrl.New()
	require.NoError(tb, err, "wgctrl.New")
	tb.Cleanup(func() { _ = client.Close() })
	w.Client = client

	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := client.Device(name); err == nil {
			break
		} else if time.Now().After(deadline) {
			tb.Fatalf("wireguard-go %s: no UAPI socket after 5s: %v\n%s", name, err, shown())
		}
		select {
		case <-w.exited:
			tb.Fatalf("wireguard-go %s exited early: %v\n%s", name, waitErr, shown())
		case <-time.After(20 * time.Millisecond):
		}
	}

	w.Private, err = wgtypes.GeneratePrivateKey()
	require.NoError(tb, err)
	w.Public = w.Private.PublicKey()
	port := opts.Port
	require.NoError(tb, client.ConfigureDevice(name, wgtypes.Config{PrivateKey: &w.Private, ListenPort: &port}),
		"configure %s", name)
	if opts.Address != "" {
		ns.MustExec(tb, "ip", "addr", "add", opts.Address, "dev", name)
	}
	ns.MustExec(tb, "ip", "link", "set", name, "up")

	// wireguard-go binds its UDP socket once the interface is up; with port
	// 0 the kernel picks one, which the device then reports.
	w.Port = port
	deadline = time.Now().Add(5 * time.Second)
	for w.Port == 0 {
		dev, err := client.Device(name)
		require.NoError(tb, err)
		w.Port = dev.ListenPort
		if w.Port == 0 {
			require.False(tb, time.Now().After(deadline), "wireguard-go %s never reported a listen port", name)
			time.Sleep(20 * time.Millisecond)
		}
	}
	return w
}

// Stop ends wireguard-go (SIGTERM, then SIGKILL after 3s) and removes its
// socket; calls after the first do nothing.
func (w *WG) Stop() {
	w.once.Do(func() {
		StopGroup(w.cmd.Process.Pid, w.exited, 3*time.Second)
		_ = os.Remove(filepath.Join(WGSocketDir, w.Name+".sock"))
	})
}

// Pid is wireguard-go's process id (ip netns exec execs it: the same
// process).
func (w *WG) Pid() int { return w.cmd.Process.Pid }

// Peers returns the interface's peers as wgctrl reports them.
func (w *WG) Peers() ([]wgtypes.Peer, error) {
	dev, err := w.Client.Device(w.Name)
	if err != nil {
		return nil, fmt.Errorf("read device %s: %w", w.Name, err)
	}
	return dev.Peers, nil
}

// HasPeer reports whether key is a peer of the interface.
func (w *WG) HasPeer(key wgtypes.Key) (bool, error) {
	peers, err := w.Peers()
	if err != nil {
		return false, err
	}
	for _, p := range peers {
		if p.PublicKey == key {
			return true, nil
		}
	}
	return false, nil
}

// AddPeer configures one peer with wgctrl, replacing its allowed IPs.
// endpoint may be nil; allowedIPs are CIDR strings; keepalive 0 leaves
// persistent keepalive off. Like wg-quick, it also routes each allowed
// range to the interface inside the namespace (ip route replace), so that
// a /32 tunnel address can reach the peer.
func (w *WG) AddPeer(key wgtypes.Key, endpoint *net.UDPAddr, allowedIPs []string, keepalive time.Duration) error {
	peer := wgtypes.PeerConfig{PublicKey: key, Endpoint: endpoint, ReplaceAllowedIPs: true}
	for _, s := range allowedIPs {
		_, ipnet, err := net.ParseCIDR(s)
		if err != nil {
			return fmt.Errorf("allowed IP %q: %w", s, err)
		}
		peer.AllowedIPs = append(peer.AllowedIPs, *ipnet)
	}
	if keepalive > 0 {
		peer.PersistentKeepaliveInterval = &keepalive
	}
	if err := w.Client.ConfigureDevice(w.Name, wgtypes.Config{Peers: []wgtypes.PeerConfig{peer}}); err != nil {
		return fmt.Errorf("add peer %s to %s: %w", key, w.Name, err)
	}
	for _, ipnet := range peer.AllowedIPs {
		if out, err := w.NS.Exec("ip", "route", "replace", ipnet.String(), "dev", w.Name); err != nil {
			return fmt.Errorf("in netns %s: ip route replace %s: %v\n%s", w.NS.Name, ipnet.String(), err, out)
		}
	}
	return nil
}

// RemovePeer removes one peer with wgctrl. Routes added by AddPeer stay,
// as after `wg set IFACE peer KEY remove`: WireGuard itself drops the
// traffic.
func (w *WG) RemovePeer(key wgtypes.Key) error {
	if err := w.Client.ConfigureDevice(w.Name, wgtypes.Config{
		Peers: []wgtypes.PeerConfig{{PublicKey: key, Remove: true}},
	}); err != nil {
		return fmt.Errorf("remove peer %s from %s: %w", key, w.Name, err)
	}
	return nil
}

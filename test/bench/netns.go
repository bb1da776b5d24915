package main

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/test/internal/harness"
)

// A netns is a network namespace the bench created (named wgb<hex>).
type netns struct{ *harness.Netns }

// newNetns creates a namespace with lo up; it is deleted at exit (or
// earlier with del).
func (b *bench) newNetns() (*netns, error) {
	var n *harness.Netns
	if err := try(func() { n = harness.NewNetns(b.tb, "wgb") }); err != nil {
		return nil, err
	}
	return &netns{n}, nil
}

// del deletes the namespace (once).
func (n *netns) del() {
	if err := n.Delete(); err != nil {
		logf("%v", err)
	}
}

// A wgIface is a wireguard-go interface in a namespace of the bench.
type wgIface struct {
	*harness.WG
	name string
}

// newWG starts wireguard-go in ns, logging errors to a file of the run's
// directory, and brings the link up. The process is stopped at exit (or
// with stop); it also dies with the bench (Pdeathsig).
func (b *bench) newWG(ns *netns) (*wgIface, error) {
	logFile, err := os.CreateTemp(b.p.Out, "wireguard-go-*.log")
	if err != nil {
		return nil, err
	}
	atExit(func() { _ = logFile.Close() })
	var w *harness.WG
	if err := try(func() { w = harness.NewWG(b.tb, ns.Netns, harness.WGOptions{LogLevel: "error", Log: logFile}) }); err != nil {
		return nil, fmt.Errorf("%w (log %s)", err, logFile.Name())
	}
	return &wgIface{WG: w, name: w.Name}, nil
}

// stop ends wireguard-go (SIGTERM, then SIGKILL) and removes its socket.
func (w *wgIface) stop() { w.Stop() }

// pid is wireguard-go's process id.
func (w *wgIface) pid() int { return w.Pid() }

// peers reads the interface's peers.
func (w *wgIface) peers() ([]wgtypes.Peer, error) { return w.Peers() }

// hasPeer reads the interface and reports whether key is a peer.
func (w *wgIface) hasPeer(key wgtypes.Key) (bool, error) { return w.HasPeer(key) }

// peerCount reads the interface and counts its peers.
func (w *wgIface) peerCount() (int, error) {
	p, err := w.peers()
	return len(p), err
}

// waitPeerCount polls the interface every 10 ms until it holds want peers.
func (w *wgIface) waitPeerCount(want int, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		n, err := w.peerCount()
		if err != nil {
			return err
		}
		if n == want {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("interface %s holds %d peers, not %d, after %s", w.name, n, want, limit)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// syncconf runs `wg syncconf <iface> <file>` (wireguard-tools) and returns
// how long it took.
func (w *wgIface) syncconf(file string) (time.Duration, error) {
	start := time.Now()
	out, err := exec.Command("wg", "syncconf", w.name, file).CombinedOutput()
	d := time.Since(start)
	if err != nil {
		return 0, fmt.Errorf("wg syncconf %s: %v: %s", w.name, err, strings.TrimSpace(string(out)))
	}
	return d, nil
}

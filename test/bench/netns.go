package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.zx2c4.com/wireguard/wgctrl"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// wgSocketDir is where wireguard-go puts its UAPI sockets; `ip netns exec`
// does not remount it, so the bench (in the root namespace) reaches the
// interfaces of every namespace through it, as wg-gateway does.
const wgSocketDir = "/var/run/wireguard"

var (
	wgcOnce sync.Once
	wgc     *wgctrl.Client
	wgcErr  error
)

// wgClient is the run's one wgctrl client.
func wgClient() (*wgctrl.Client, error) {
	wgcOnce.Do(func() {
		wgc, wgcErr = wgctrl.New()
		if wgcErr == nil {
			atExit(func() { _ = wgc.Close() })
		}
	})
	return wgc, wgcErr
}

// uniqueName is prefix and 8 random hex digits: at most 15 characters.
func uniqueName(prefix string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// A netns is a network namespace the bench created.
type netns struct {
	name string
	once sync.Once
}

// newNetns creates a namespace named wgb<hex> with lo up; it is deleted
// at exit (or earlier with del).
func newNetns() (*netns, error) {
	n := &netns{name: uniqueName("wgb")}
	if out, err := exec.Command("ip", "netns", "add", n.name).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("ip netns add %s: %v: %s", n.name, err, out)
	}
	atExit(n.del)
	if out, err := n.exec("ip", "link", "set", "lo", "up"); err != nil {
		return nil, fmt.Errorf("lo up in %s: %v: %s", n.name, err, out)
	}
	return n, nil
}

func (n *netns) exec(args ...string) (string, error) {
	out, err := exec.Command("ip", append([]string{"netns", "exec", n.name}, args...)...).CombinedOutput()
	return string(out), err
}

// del deletes the namespace (once).
func (n *netns) del() {
	n.once.Do(func() {
		if out, err := exec.Command("ip", "netns", "del", n.name).CombinedOutput(); err != nil {
			logf("ip netns del %s: %v: %s", n.name, err, out)
		}
	})
}

// A wgIface is a wireguard-go interface in a namespace of the bench.
type wgIface struct {
	ns     *netns
	name   string
	cmd    *exec.Cmd
	exited chan struct{}
	once   sync.Once
}

// newWG starts wireguard-go in ns in the foreground, waits for its UAPI
// socket and brings the link up. The process is stopped at exit (or with
// stop); it also dies with the bench (Pdeathsig).
func newWG(ns *netns, logDir string) (*wgIface, error) {
	c, err := wgClient()
	if err != nil {
		return nil, err
	}
	var name string
	for {
		name = uniqueName("wgb")
		if _, err := os.Stat(filepath.Join(wgSocketDir, name+".sock")); errors.Is(err, os.ErrNotExist) {
			break
		}
	}
	logFile, err := os.Create(filepath.Join(logDir, "wireguard-go-"+name+".log"))
	if err != nil {
		return nil, err
	}
	w := &wgIface{ns: ns, name: name, exited: make(chan struct{})}
	w.cmd = exec.Command("ip", "netns", "exec", ns.name, "wireguard-go", name)
	w.cmd.Env = append(os.Environ(), "WG_PROCESS_FOREGROUND=1", "LOG_LEVEL=error")
	w.cmd.Stdout, w.cmd.Stderr = logFile, logFile
	w.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := w.cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start wireguard-go: %w", err)
	}
	go func() { _ = w.cmd.Wait(); logFile.Close(); close(w.exited) }()
	atExit(w.stop)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := c.Device(name); err == nil {
			break
		} else if time.Now().After(deadline) {
			return nil, fmt.Errorf("wireguard-go %s: no UAPI socket after 5s: %v", name, err)
		}
		select {
		case <-w.exited:
			return nil, fmt.Errorf("wireguard-go %s exited early; see %s", name, logFile.Name())
		case <-time.After(10 * time.Millisecond):
		}
	}
	if out, err := ns.exec("ip", "link", "set", name, "up"); err != nil {
		return nil, fmt.Errorf("link up %s: %v: %s", name, err, out)
	}
	return w, nil
}

// stop ends wireguard-go (SIGTERM, then SIGKILL) and removes its socket.
func (w *wgIface) stop() {
	w.once.Do(func() {
		pgid := w.cmd.Process.Pid
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		select {
		case <-w.exited:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			<-w.exited
		}
		_ = os.Remove(filepath.Join(wgSocketDir, w.name+".sock"))
	})
}

// pid is wireguard-go's process id (a child of ip netns exec, which
// execs it: the same process).
func (w *wgIface) pid() int { return w.cmd.Process.Pid }

// peers reads the interface's peers.
func (w *wgIface) peers() ([]wgtypes.Peer, error) {
	dev, err := wgc.Device(w.name)
	if err != nil {
		return nil, err
	}
	return dev.Peers, nil
}

// peerCount reads the interface and counts its peers.
func (w *wgIface) peerCount() (int, error) {
	p, err := w.peers()
	return len(p), err
}

// hasPeer reads the interface and reports whether key is a peer.
func (w *wgIface) hasPeer(key wgtypes.Key) (bool, error) {
	ps, err := w.peers()
	if err != nil {
		return false, err
	}
	for _, p := range ps {
		if p.PublicKey == key {
			return true, nil
		}
	}
	return false, nil
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

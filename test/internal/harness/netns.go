package harness

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// RequireNetTools calls Need for what the network-namespace helpers use:
// root, the ip, wireguard-go and ping commands, and /dev/net/tun.
func RequireNetTools(tb TB) {
	tb.Helper()
	Need(tb, os.Geteuid() == 0, "network namespaces need root (euid is %d)", os.Geteuid())
	for _, bin := range []string{"ip", "wireguard-go", "ping"} {
		_, err := exec.LookPath(bin)
		Need(tb, err == nil, "no %s command on PATH (Debian: apt-get install iproute2 wireguard-go iputils-ping)", bin)
	}
	_, err := os.Stat("/dev/net/tun")
	Need(tb, err == nil, "no /dev/net/tun: %v", err)
}

// A Netns is a network namespace made by NewNetns.
type Netns struct {
	// Name is the namespace's name, as `ip netns` knows it.
	Name string
	once sync.Once
}

// NewNetns creates a network namespace with a unique short name (prefix and
// random hex digits), brings its lo up, and deletes it in tb.Cleanup (or
// earlier, with Delete).
func NewNetns(tb TB, prefix string) *Netns {
	tb.Helper()
	var n *Netns
	for attempt := 0; ; attempt++ {
		name := UniqueName(tb, prefix)
		out, err := exec.Command("ip", "netns", "add", name).CombinedOutput()
		if err == nil {
			n = &Netns{Name: name}
			break
		}
		if attempt >= 3 {
			tb.Fatalf("ip netns add %s: %v\n%s", name, err, out)
		}
	}
	tb.Cleanup(func() {
		if err := n.Delete(); err != nil {
			tb.Errorf("%v", err)
		}
	})
	n.MustExec(tb, "ip", "link", "set", "lo", "up")
	return n
}

// Delete deletes the namespace; calls after the first do nothing.
func (n *Netns) Delete() error {
	var err error
	n.once.Do(func() {
		if out, e := exec.Command("ip", "netns", "del", n.Name).CombinedOutput(); e != nil {
			err = fmt.Errorf("ip netns del %s: %v\n%s", n.Name, e, out)
		}
	})
	return err
}

// Exec runs a command inside the namespace (ip netns exec NAME ...) and
// returns its combined output and error.
func (n *Netns) Exec(args ...string) (string, error) {
	cmd := exec.Command("ip", append([]string{"netns", "exec", n.Name}, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// MustExec is Exec that fails the test on error.
func (n *Netns) MustExec(tb TB, args ...string) string {
	tb.Helper()
	out, err := n.Exec(args...)
	if err != nil {
		tb.Fatalf("in netns %s: %s: %v\n%s", n.Name, strings.Join(args, " "), err, out)
	}
	return out
}

// CanPing reports whether one ping to addr from inside the namespace gets
// an answer within timeout. The ping is bounded twice: by ping's own -W and
// by a deadline on the command.
func (n *Netns) CanPing(addr string, timeout time.Duration) bool {
	if timeout < 100*time.Millisecond {
		timeout = 100 * time.Millisecond
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout+2*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", n.Name,
		"ping", "-n", "-q", "-c", "1", "-W", fmt.Sprintf("%.3f", timeout.Seconds()), addr)
	return cmd.Run() == nil
}

// LinkVeth joins namespaces a and b with a veth pair, assigning aAddr and
// bAddr (CIDR, e.g. "10.250.0.1/24") and bringing both ends up. The pair is
// created directly inside the namespaces, never in the root namespace, and
// goes away with them.
func LinkVeth(tb TB, a, b *Netns, aAddr, bAddr string) {
	tb.Helper()
	aName, bName := UniqueName(tb, "veth"), UniqueName(tb, "veth")
	if out, err := exec.Command("ip", "link", "add", aName, "netns", a.Name, "type", "veth",
		"peer", "name", bName, "netns", b.Name).CombinedOutput(); err != nil {
		tb.Fatalf("ip link add veth pair %s/%s: %v\n%s", aName, bName, err, out)
	}
	for _, end := range []struct {
		ns         *Netns
		name, addr string
	}{{a, aName, aAddr}, {b, bName, bAddr}} {
		end.ns.MustExec(tb, "ip", "addr", "add", end.addr, "dev", end.name)
		end.ns.MustExec(tb, "ip", "link", "set", end.name, "up")
	}
}

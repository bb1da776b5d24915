package harness

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/stretchr/testify/require"
)

// GatewayOptions say how StartGateway runs wg-gateway.
type GatewayOptions struct {
	// Bin is the wg-gateway binary; by default the one BuiltBinary builds.
	Bin string
	// VaultAddr is the daemon's VAULT_ADDR.
	VaultAddr string
	// Args are the daemon's flags, after -metrics-addr and -state-dir
	// (which they may override).
	Args []string
	// Env is added to the daemon's environment.
	Env []string
	// StateDir is where the daemon pins CAs, kept across restarts of the
	// daemon; a fresh directory by default.
	StateDir string
	// Log receives the daemon's output; by default it is kept in
	// Gateway.Out and shown if the test failed.
	Log io.Writer
	// Netns, if set, is the network namespace the daemon runs in (ip
	// netns exec), as it must to program that namespace's firewall; then
	// MetricsAddr, an address of the namespace the test can reach, is
	// where its metrics listen.
	Netns       *Netns
	MetricsAddr string
}

// A Gateway is a wg-gateway daemon started by StartGateway.
type Gateway struct {
	tb TB
	// Args and Env are what each Start runs the daemon with.
	Args, Env []string
	// Metrics is the host:port of the daemon's metrics listener.
	Metrics string
	// Out is the daemon's output so far (nil when it goes to
	// GatewayOptions.Log).
	Out *SyncBuffer

	bin    string
	netns  string
	log    io.Writer
	cmd    *exec.Cmd
	exited chan struct{}
}

// StartGateway starts wg-gateway as opts say, with a metrics listener on a
// free loopback port; it is stopped in tb.Cleanup, its output shown if the
// test failed.
func StartGateway(tb TB, opts GatewayOptions) *Gateway {
	tb.Helper()
	g := &Gateway{
		tb:      tb,
		bin:     opts.Bin,
		Metrics: opts.MetricsAddr,
		Env:     append(append(os.Environ(), "VAULT_ADDR="+opts.VaultAddr, "VAULT_TOKEN="), opts.Env...),
		log:     opts.Log,
	}
	if g.Metrics == "" {
		g.Metrics = fmt.Sprintf("127.0.0.1:%d", FreePort(tb))
	}
	if opts.Netns != nil {
		g.netns = opts.Netns.Name
	}
	if g.log == nil {
		g.Out = &SyncBuffer{}
	}
	if g.bin == "" {
		g.bin = BuiltBinary(tb, "wg-gateway")
	}
	stateDir := opts.StateDir
	if stateDir == "" {
		stateDir = tb.TempDir()
	}
	g.Args = append([]string{"-metrics-addr", g.Metrics, "-state-dir", stateDir}, opts.Args...)
	g.Start()
	tb.Cleanup(func() {
		g.Stop()
		if tb.Failed() && g.Out != nil {
			tb.Logf("wg-gateway output:\n%s", g.Out)
		}
	})
	return g
}

// Start runs the daemon (again, after Stop or Kill) with Args and Env.
func (g *Gateway) Start() {
	g.tb.Helper()
	if g.netns != "" {
		// ip netns exec execs the daemon: the process is the daemon's.
		g.cmd = exec.Command("ip", append([]string{"netns", "exec", g.netns, g.bin}, g.Args...)...)
	} else {
		g.cmd = exec.Command(g.bin, g.Args...)
	}
	g.cmd.Env = g.Env
	var out io.Writer = g.Out
	if g.log != nil {
		out = g.log
	}
	g.cmd.Stdout, g.cmd.Stderr = out, out
	g.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	require.NoError(g.tb, g.cmd.Start())
	g.exited = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { _ = cmd.Wait(); close(done) }(g.cmd, g.exited)
}

// Exited is closed when the daemon started last has exited.
func (g *Gateway) Exited() <-chan struct{} { return g.exited }

// Stop sends SIGTERM and waits (SIGKILL after 10s); it reports whether the
// daemon exited 0.
func (g *Gateway) Stop() bool {
	select {
	case <-g.exited:
		return g.cmd.ProcessState.Success()
	default:
	}
	_ = g.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-g.exited:
		return g.cmd.ProcessState.Success()
	case <-time.After(10 * time.Second):
		_ = g.cmd.Process.Kill()
		<-g.exited
		return false
	}
}

// Kill stops the daemon with SIGKILL, as a crash would.
func (g *Gateway) Kill() {
	_ = g.cmd.Process.Kill()
	<-g.exited
}

// Hup sends SIGHUP: the daemon re-reads its files and resyncs.
func (g *Gateway) Hup() error {
	return g.cmd.Process.Signal(syscall.SIGHUP)
}

// Metric returns the value of one series of the daemon's /metrics (its
// name with labels, as exposed), or -1 when it is not there.
func (g *Gateway) Metric(series string) float64 {
	_, text := g.Get("/metrics")
	for _, line := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err == nil {
				return f
			}
		}
	}
	return -1
}

// Get fetches a path of the daemon's metrics listener and returns the
// status and body (0 and the error when it does not answer).
func (g *Gateway) Get(path string) (int, string) {
	resp, err := http.Get("http://" + g.Metrics + path)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// WaitHealthy waits until /healthz answers 200.
func (g *Gateway) WaitHealthy() {
	g.tb.Helper()
	require.Eventually(g.tb, func() bool {
		code, _ := g.Get("/healthz")
		return code == http.StatusOK
	}, 30*time.Second, 50*time.Millisecond, "wg-gateway never became healthy:\n%s", g.output())
}

// output is the daemon's output, when it is kept.
func (g *Gateway) output() string {
	if g.Out == nil {
		return "(output in GatewayOptions.Log)"
	}
	return g.Out.String()
}

// Pid is the process id of the daemon started last.
func (g *Gateway) Pid() int { return g.cmd.Process.Pid }

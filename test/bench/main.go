package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/test/internal/harness"
)

// params are the sizes of the runs, from flags.
type params struct {
	Only        map[string]bool `json:"-"`
	OnlyList    string          `json:"only"`
	Clients     int             `json:"clients"`
	N           int             `json:"p1_requests_per_round"`
	Warmup      int             `json:"p1_warmup"`
	Rounds      int             `json:"rounds"`
	RevokeN     int             `json:"p2_leases"`
	P2Rounds    int             `json:"p2_rounds"`
	P2Default   bool            `json:"p2_default_crl"`
	Quick       bool            `json:"quick"`
	Samples     int             `json:"p3_samples"`
	ColdN       int             `json:"p4_peers"`
	ScaleMax    int             `json:"p5_max_live"`
	ScaleSample int             `json:"p5_sample"`
	ConfirmN    int             `json:"p7_samples"`
	PolicyRSSN  int             `json:"p8_rss_peers"`
	P9Live      int             `json:"p9_live"`
	P9Sample    int             `json:"p9_sample"`
	P9Rounds    int             `json:"p9_rounds"`
	P9Clients   int             `json:"p9_grow_clients"`
	P6Page      int             `json:"p6_page"`
	Profile     bool            `json:"profile"`
	Overlay     string          `json:"overlay,omitempty"`
	PluginEnv   string          `json:"plugin_env,omitempty"`
	GatewayEnv  string          `json:"gateway_env,omitempty"`
	Candidate   string          `json:"p1_candidate,omitempty"`
	P1Audit     bool            `json:"p1_audit,omitempty"`
	Out         string          `json:"-"`
}

// allParts are the parts in the order they run.
var allParts = []string{"P1", "P2", "P3", "P4", "P5", "P6", "P7", "P8", "P9"}

func main() {
	os.Exit(run())
}

func run() int {
	var p params
	fs := flag.NewFlagSet("bench", flag.ExitOnError)
	fs.StringVar(&p.OnlyList, "only", strings.Join(allParts, ","), "comma-separated parts to run: P1,P2,P3,P4,P5,P6,P7,P8,P9 (P6 needs P5's certificates and runs it; P9 starts its own 3-node raft cluster)")
	fs.IntVar(&p.Clients, "c", 8, "concurrent clients of the load generator")
	fs.IntVar(&p.N, "n", 5000, "P1: requests per round and engine")
	fs.IntVar(&p.Warmup, "warmup", 1000, "P1: warm-up requests per engine before measuring")
	fs.IntVar(&p.Rounds, "rounds", 5, "P1, P4, P8: measured rounds (medians are reported)")
	fs.IntVar(&p.RevokeN, "revoke-n", 5000, "P2: live leases revoked by prefix")
	fs.IntVar(&p.P2Rounds, "p2-rounds", 3, "P2: rounds, each on fresh mounts of both engines")
	fs.BoolVar(&p.P2Default, "p2-default-crl", true, "P2: also time PKI with its default CRL settings, in the first round (minutes: it rebuilds the CRL per revocation)")
	fs.BoolVar(&p.Quick, "quick", false, "a reduced run of every part (under 5 minutes on a quiet machine): smaller counts and fewer rounds, unless given by their own flags")
	fs.IntVar(&p.Samples, "samples", 200, "P3, P8: single-lease revocations timed")
	fs.IntVar(&p.ColdN, "cold-n", 10000, "P4, P8: live certificates at the gateway's cold start")
	fs.IntVar(&p.ScaleMax, "scale-max", 50000, "P5, P6: live certificates at the end of the growth")
	fs.IntVar(&p.ScaleSample, "scale-sample", 1000, "P5: issues timed at each checkpoint")
	fs.IntVar(&p.ConfirmN, "confirm-samples", 100, "P7: revocations with confirm timed")
	fs.IntVar(&p.P6Page, "p6-page", p6PageSize, "P6: peers per page of the 4 concurrent full reads (wg-gateway's page size)")
	fs.IntVar(&p.PolicyRSSN, "policy-rss-n", 50000, "P8: live certificates with rules at the gateway whose RSS is read (0: not measured)")
	fs.IntVar(&p.P9Live, "p9-live", 200000, "P9: live certificates on one mount of 4 gateways, on a 3-node raft cluster")
	fs.IntVar(&p.P9Sample, "p9-sample", 200, "P9: issues timed per mount and round, at 1,000 live and at -p9-live")
	fs.IntVar(&p.P9Rounds, "p9-rounds", 5, "P9: rounds of samples at each size, the big mount and a 1,000-certificate reference mount back to back")
	fs.IntVar(&p.P9Clients, "p9-grow-c", 32, "P9: concurrent clients while the mount grows (not measured)")
	fs.BoolVar(&p.Profile, "profile", false, "run the plugin and wg-gateway from profiling wrappers (test/bench/prof*) and save CPU profiles with their top functions")
	fs.StringVar(&p.Overlay, "overlay", "", "build the plugin and wg-gateway with `go build -overlay FILE`: measure a candidate change without editing the tree")
	fs.StringVar(&p.Candidate, "p1-candidate", "", "P1: also run the plugin built with `go build -overlay FILE` as a third engine in every round, on its own mount, and report its ratios to the plugin as it is")
	fs.BoolVar(&p.P1Audit, "p1-audit", false, "P1: with a file audit device (file_path=discard: Vault hashes and formats every request and answer, and writes nothing), as most production servers run")
	fs.StringVar(&p.PluginEnv, "plugin-env", "", "comma-separated NAME=VALUE pairs in the plugin's environment (as `vault plugin register -env`), e.g. GOMEMLIMIT=160MiB")
	fs.StringVar(&p.GatewayEnv, "gateway-env", "", "comma-separated NAME=VALUE pairs in every wg-gateway's environment, e.g. GOGC=100")
	fs.StringVar(&p.Out, "out", "", "results directory (default results/bench-<time>)")
	_ = fs.Parse(os.Args[1:])
	if p.Quick {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		quick := map[string]int{"n": 1000, "warmup": 200, "rounds": 3, "revoke-n": 1000, "p2-rounds": 2, "samples": 50,
			"cold-n": 2000, "scale-max": 5000, "scale-sample": 500, "confirm-samples": 20, "policy-rss-n": 5000,
			"p9-live": 20000, "p9-sample": 100, "p9-rounds": 3}
		for name, v := range quick {
			if !set[name] {
				_ = fs.Set(name, strconv.Itoa(v))
			}
		}
		if !set["p2-default-crl"] {
			p.P2Default = false
		}
	}
	p.Only = map[string]bool{}
	for _, s := range strings.Split(p.OnlyList, ",") {
		s = strings.ToUpper(strings.TrimSpace(s))
		if s == "" {
			continue
		}
		if !contains(allParts, s) {
			fmt.Fprintf(os.Stderr, "bench: unknown part %q (want P1..P9)\n", s)
			return 2
		}
		p.Only[s] = true
	}
	if p.Only["P6"] {
		p.Only["P5"] = true
	}

	if os.Geteuid() != 0 && (p.Only["P2"] || p.Only["P3"] || p.Only["P4"] || p.Only["P6"] || p.Only["P7"] || p.Only["P8"]) {
		fmt.Fprintln(os.Stderr, "bench: P2, P3, P4, P6, P7 and P8 create network namespaces and wireguard-go interfaces: run as root")
		return 2
	}
	root, err := harness.RepoRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	if p.Out == "" {
		p.Out = filepath.Join(root, "results", "bench-"+time.Now().UTC().Format("20060102T150405Z"))
	}
	if err := os.MkdirAll(p.Out, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}

	// Every process the run starts carries the marker: what is left of
	// them after the cleanups is killed.
	marker, err := harness.MarkRun()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench: run marker:", err)
		return 1
	}
	b := &bench{p: p, root: root, report: newReport(p), tb: &runTB{}}
	cleanUp := func() {
		runCleanups()
		killLeftovers(marker, b.bins.dir)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b.ctx = ctx
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-sigs
		logf("%s: cleaning up", s)
		cancel()
		cleanUp()
		os.Exit(130)
	}()
	defer cleanUp()

	if err := b.run(); err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("interrupted; partial results (%v)", err)
		}
		fmt.Fprintln(os.Stderr, "bench: FAILED:", err)
		b.report.Error = err.Error()
		b.finish()
		return 1
	}
	b.finish()
	return 0
}

// A bench is one run: its parameters, its Vault, its results.
type bench struct {
	p      params
	root   string
	ctx    context.Context
	vault  *vaultServer
	bins   binaries
	report *report
	device string // a device token (AppRole) for issuing on every mount
	tb     *runTB // what the harness reports to
}

func (b *bench) run() error {
	b.report.Machine = machineInfo(b.root)
	logf("machine: %s, %d cores, %s; commit %s", b.report.Machine.CPU, b.report.Machine.Cores, b.report.Machine.Kernel, b.report.Machine.Commit)
	var err error
	if b.bins, err = buildBinaries(b.root, b.p.Out, b.p.Profile, b.p.Overlay); err != nil {
		return err
	}
	if b.vault, err = startVault(b.tb, b.bins, b.p); err != nil {
		return err
	}
	b.report.Machine.Vault = b.vault.version
	if err := b.setupAuth(); err != nil {
		return err
	}
	steps := []struct {
		part string
		fn   func() error
	}{
		{"P1", b.runP1}, {"P2", b.runP2}, {"P3", b.runP3}, {"P4", b.runP4}, {"P5", b.runP5P6}, {"P7", b.runP7}, {"P8", b.runP8}, {"P9", b.runP9},
	}
	defer func() {
		b.report.setLoadEnd(loadAvg())
		b.report.note("load average (1, 5, 15 min) at start %s, at end %s on %d cores: other work on the machine shares the CPUs with the run; ratios are per round (both engines in the same round), shown as median (min–max), and a goal is met only when every round meets it",
			b.report.Machine.LoadAvg, b.report.LoadEnd, b.report.Machine.Cores)
	}()
	for _, s := range steps {
		if !b.p.Only[s.part] {
			continue
		}
		if err := b.ctx.Err(); err != nil {
			return err
		}
		load := loadAvg()
		logf("=== %s (load average %s)", s.part, load)
		b.report.raw("loadavg_before_"+s.part, load)
		start := time.Now()
		if err := s.fn(); err != nil {
			return fmt.Errorf("%s: %w", s.part, err)
		}
		logf("=== %s done in %s", s.part, time.Since(start).Round(time.Second))
	}
	return nil
}

// finish prints the table and writes the JSON.
func (b *bench) finish() {
	path := filepath.Join(b.p.Out, "bench.json")
	if err := b.report.write(path); err != nil {
		logf("writing %s: %v", path, err)
	}
	fmt.Println()
	b.report.printTable(os.Stdout)
	fmt.Printf("\nraw figures: %s\n", path)
}

var (
	cleanupMu sync.Mutex
	cleanups  []func()
)

// atExit registers f to run at exit or Ctrl-C, last registered first.
func atExit(f func()) {
	cleanupMu.Lock()
	defer cleanupMu.Unlock()
	cleanups = append(cleanups, f)
}

func runCleanups() {
	cleanupMu.Lock()
	fs := cleanups
	cleanups = nil
	cleanupMu.Unlock()
	for i := len(fs) - 1; i >= 0; i-- {
		fs[i]()
	}
}

// logf prints a progress line to stderr.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s bench: %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

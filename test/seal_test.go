package test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	vault "github.com/hashicorp/vault/api"
	"github.com/stretchr/testify/require"
)

// feedPollers are clients that watch gw1's peer feed as wg-gateway does:
// a full read, then long-polls from the index they have (wait=30s),
// polling again at once on an unchanged answer.
type feedPollers struct {
	requests atomic.Int64 // answered requests, errors included
	inFlight atomic.Int64
	stop     context.CancelFunc
	done     sync.WaitGroup

	mu    sync.Mutex
	index []uint64 // the index each poller has, 0 before its first answer
	seen  []time.Time
}

// startFeedPollers starts n pollers against addr with token; they stop at
// the end of the test.
func startFeedPollers(t *testing.T, addr, token string, n int) *feedPollers {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	p := &feedPollers{stop: cancel, index: make([]uint64, n), seen: make([]time.Time, n)}
	for i := range n {
		conf := vault.DefaultConfig()
		conf.Address = addr
		conf.MaxRetries = 0
		c, err := vault.NewClient(conf)
		require.NoError(t, err)
		c.SetToken(token)
		p.done.Add(1)
		go func() {
			defer p.done.Done()
			p.run(ctx, c, i)
		}()
	}
	t.Cleanup(p.close)
	return p
}

// close stops the pollers and waits for them.
func (p *feedPollers) close() {
	p.stop()
	p.done.Wait()
}

func (p *feedPollers) run(ctx context.Context, c *vault.Client, i int) {
	var index uint64
	for ctx.Err() == nil {
		params := map[string][]string{}
		if index > 0 {
			params["index"] = []string{strconv.FormatUint(index, 10)}
			params["wait"] = []string{"30s"}
		}
		p.inFlight.Add(1)
		got, err := readFeedIndex(ctx, c, params)
		p.inFlight.Add(-1)
		p.requests.Add(1)
		if err != nil {
			// Sealed, or a leader change: try again soon, as the daemon's
			// backoff does.
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		if got != index {
			index = got
			p.mu.Lock()
			p.index[i], p.seen[i] = got, time.Now()
			p.mu.Unlock()
		}
	}
}

// readFeedIndex reads the feed and returns the index of the answer.
func readFeedIndex(ctx context.Context, c *vault.Client, params map[string][]string) (uint64, error) {
	resp, err := c.Logical().ReadRawWithDataWithContext(ctx, "wg/gateways/gw1/peers", params)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var body struct {
		Data struct {
			Index uint64 `json:"index"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return 0, err
	}
	return body.Data.Index, nil
}

// waitAllAt waits until every poller has an index of at least index and
// returns when the last one got there.
func (p *feedPollers) waitAllAt(t *testing.T, index uint64, within time.Duration) time.Time {
	t.Helper()
	var last time.Time
	require.Eventually(t, func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		last = time.Time{}
		for i, got := range p.index {
			if got < index {
				return false
			}
			if p.seen[i].After(last) {
				last = p.seen[i]
			}
		}
		return true
	}, within, time.Millisecond, "not every poller reached index %d", index)
	return last
}

// waitInFlight waits until all n pollers have a request in flight.
func (p *feedPollers) waitInFlight(t *testing.T, n int) {
	t.Helper()
	require.Eventually(t, func() bool { return p.inFlight.Load() == int64(n) },
		10*time.Second, time.Millisecond, "the pollers are not all in flight")
}

// gatewayToken creates a token with the gateway daemon's policy for gw1.
func gatewayToken(t *testing.T, s *vaultServer) string {
	t.Helper()
	policy, err := os.ReadFile("../scripts/policies/gateway-gw1.hcl")
	require.NoError(t, err)
	require.NoError(t, s.root.Sys().PutPolicy("gateway-gw1", string(policy)))
	tok, err := s.root.Auth().Token().Create(&vault.TokenCreateRequest{Policies: []string{"gateway-gw1"}, TTL: "1h"})
	require.NoError(t, err)
	return tok.Auth.ClientToken
}

// feedIndex reads gw1's current index as root.
func feedIndex(t *testing.T, c *vault.Client) uint64 {
	t.Helper()
	got, err := readFeedIndex(t.Context(), c, nil)
	require.NoError(t, err)
	return got
}

// sealBound is how long a seal or a step-down may take with long-polls in
// flight: Vault waits for every request in flight first, and the engine
// holds a long-poll at most 1 s.
const sealBound = 2 * time.Second

// TestSealWithLongPollsInFlight seals a dev server while 50 gateways
// long-poll their feed: the seal completes within 2 s, and a change still
// reaches every poller within milliseconds before it.
func TestSealWithLongPollsInFlight(t *testing.T) {
	s := startVault(t)
	setUpEngine(t, s)
	s.cli("write", "wg/roles/laptop", "gateway=gw1", "ttl=1h")
	const n = 50
	p := startFeedPollers(t, s.addr, gatewayToken(t, s), n)
	p.waitAllAt(t, feedIndex(t, s.root), 30*time.Second)

	// A change wakes the waiting long-polls at once.
	p.waitInFlight(t, n)
	_, err := s.root.Logical().Write("wg/issue/laptop", map[string]any{"public_key": mustPub(t)})
	require.NoError(t, err)
	issued := time.Now()
	last := p.waitAllAt(t, feedIndex(t, s.root), 5*time.Second)
	t.Logf("an issue reached all %d pollers %v after it returned", n, last.Sub(issued))
	require.Less(t, last.Sub(issued), 500*time.Millisecond)

	p.waitInFlight(t, n)
	// What `vault operator seal` calls, without the CLI's start-up time.
	began := time.Now()
	require.NoError(t, s.root.Sys().Seal())
	took := time.Since(began)
	t.Logf("vault operator seal with %d long-polls in flight took %v (bound %v)", n, took, sealBound)
	require.Less(t, took, sealBound)
	st, err := s.client("").Sys().SealStatus()
	require.NoError(t, err)
	require.True(t, st.Sealed)
}

// TestStepDownWithLongPollsInFlight steps the leader of a 3-node raft
// cluster down while 50 gateways long-poll it: it is a standby within 2 s,
// and the mount accepts writes on the new leader soon after.
func TestStepDownWithLongPollsInFlight(t *testing.T) {
	c := startVaultCluster(t, 3)
	leader := c.leader()
	setUpEngine(t, leader.vaultServer)
	leader.cli("write", "wg/roles/laptop", "gateway=gw1", "ttl=1h")
	const n = 50
	p := startFeedPollers(t, leader.addr, gatewayToken(t, leader.vaultServer), n)
	p.waitAllAt(t, feedIndex(t, leader.root), 30*time.Second)
	p.waitInFlight(t, n)

	// What `vault operator step-down` calls.
	began := time.Now()
	require.NoError(t, leader.root.Sys().StepDown())
	// The call returns at once; the node stands down once the requests in
	// flight have finished. sys/leader answers only after that.
	quick := leader.client(leader.root.Token())
	quick.SetClientTimeout(30 * time.Second)
	require.Eventually(t, func() bool {
		l, err := quick.Sys().Leader()
		return err == nil && !l.IsSelf
	}, 30*time.Second, 5*time.Millisecond, "the leader never stood down")
	down := time.Since(began)
	t.Logf("vault operator step-down with %d long-polls in flight: standby after %v (bound %v)", n, down, sealBound)
	require.Less(t, down, sealBound)

	// The mount takes writes on the new leader: elected, unsealed, the
	// plugin loaded.
	const writeBound = 15 * time.Second
	var next *vaultNode
	require.Eventually(t, func() bool {
		if next = c.activeNode(leader); next == nil {
			return false
		}
		_, err := next.root.Logical().Write("wg/issue/laptop", map[string]any{"public_key": mustPub(t)})
		return err == nil
	}, writeBound, 10*time.Millisecond, "the new leader's mount took no write")
	t.Logf("the new leader %s issued %v after the step-down (bound %v)", next.addr, time.Since(began), writeBound)
}

// TestIdleGatewayCost measures what 100 idle gateways cost Vault: the
// requests per second they send and the CPU of Vault and the plugin,
// from /proc, over WG_IDLE_SECONDS (default 30).
func TestIdleGatewayCost(t *testing.T) {
	s := startVault(t)
	setUpEngine(t, s)
	window := 30 * time.Second
	if v := os.Getenv("WG_IDLE_SECONDS"); v != "" {
		secs, err := strconv.Atoi(v)
		require.NoError(t, err, "WG_IDLE_SECONDS")
		window = time.Duration(secs) * time.Second
	}
	const n = 100
	p := startFeedPollers(t, s.addr, gatewayToken(t, s), n)
	p.waitAllAt(t, feedIndex(t, s.root), 30*time.Second)
	p.waitInFlight(t, n)

	pids := []int{s.Pid()}
	plugin := childrenNamed(t, s.Pid(), pluginName)
	require.NotEmpty(t, plugin, "the plugin process of this Vault")
	pids = append(pids, plugin...)

	vault0, all0, req0, t0 := cpuTicks(t, pids[:1]), cpuTicks(t, pids), p.requests.Load(), time.Now()
	deadline := time.NewTimer(window)
	<-deadline.C
	vault1, all1, req1, elapsed := cpuTicks(t, pids[:1]), cpuTicks(t, pids), p.requests.Load(), time.Since(t0)

	rate := float64(req1-req0) / elapsed.Seconds()
	percent := func(ticks int64) float64 { return float64(ticks) / clockTicks / elapsed.Seconds() * 100 } // of one core
	cpu := percent(all1 - all0)
	t.Logf("%d idle gateways over %v: %.1f requests/s (%.2f per gateway), Vault + plugin CPU %.1f%% of one core (Vault %.1f%%)",
		n, elapsed.Round(time.Second), rate, rate/n, cpu, percent(vault1-vault0))
	require.LessOrEqual(t, rate/n, 1.1, "an idle gateway polls about once a second")
	require.Less(t, cpu, 50.0, "100 idle gateways must not cost half a core")
}

// clockTicks is USER_HZ, the unit of the times in /proc/<pid>/stat.
const clockTicks = 100

// cpuTicks is the user and system time of the processes, in clock ticks.
func cpuTicks(t *testing.T, pids []int) int64 {
	t.Helper()
	var sum int64
	for _, pid := range pids {
		f := procStatFields(t, pid)
		for _, i := range []int{11, 12} { // utime, stime: fields 14 and 15
			v, err := strconv.ParseInt(f[i], 10, 64)
			require.NoError(t, err)
			sum += v
		}
	}
	return sum
}

// procStatFields returns the fields of /proc/<pid>/stat after the command
// name (the state is the first).
func procStatFields(t *testing.T, pid int) []string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	require.NoError(t, err)
	s := string(b)
	return strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
}

// childrenNamed returns the processes whose parent is ppid and whose
// executable's name starts like name (the kernel keeps 15 characters).
func childrenNamed(t *testing.T, ppid int, name string) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	require.NoError(t, err)
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		s := string(b)
		open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || end < open {
			continue
		}
		comm, rest := s[open+1:end], strings.Fields(s[end+1:])
		if len(rest) > 1 && rest[1] == strconv.Itoa(ppid) && strings.HasPrefix(name, comm) {
			out = append(out, pid)
		}
	}
	return out
}

// TestGatewayStatusLifecycle: on a real Vault, an operator deletes a
// retired instance's status (the gateway's own policy cannot), deleting a
// gateway takes its status along, and the OpenAPI document names the
// operation.
func TestGatewayStatusLifecycle(t *testing.T) {
	s := startVault(t)
	setUpEngine(t, s)
	gw := s.client(gatewayToken(t, s))
	for _, id := range []string{"gw-a", "gw-b"} {
		_, err := gw.Logical().Write("wg/gateways/gw1/status", map[string]any{"instance_id": id, "applied_index": "1"})
		require.NoError(t, err)
	}
	_, err := gw.Logical().Delete("wg/gateways/gw1/status/gw-b")
	require.ErrorContains(t, err, "permission denied", "a gateway cannot erase another instance's status")

	s.cli("delete", "wg/gateways/gw1/status/gw-b")
	st, err := s.root.Logical().Read("wg/gateways/gw1/status")
	require.NoError(t, err)
	require.Equal(t, []string{"gw-a"}, mapKeys(st.Data["instances"].(map[string]any)))

	spec, err := s.root.Logical().Read("sys/internal/specs/openapi")
	require.NoError(t, err)
	op := spec.Data["paths"].(map[string]any)["/wg/gateways/{name}/status/{instance_id}"].(map[string]any)["delete"].(map[string]any)
	require.Equal(t, "wireguard-delete-gateway-status-instance", op["operationId"])
	paths := spec.Data["paths"].(map[string]any)
	require.Equal(t, "wireguard-read-gateway-peers", paths["/wg/gateways/{name}/peers"].(map[string]any)["get"].(map[string]any)["operationId"])
	in := map[string]any{}
	for _, p := range paths["/wg/gateways/{name}/peers"].(map[string]any)["get"].(map[string]any)["parameters"].([]any) {
		in[p.(map[string]any)["name"].(string)] = p.(map[string]any)["in"]
	}
	require.Equal(t, map[string]any{"index": "query", "wait": "query", "limit": "query", "after": "query", "certificate_format": "query"}, in, "the feed's index, wait, paging and certificate format are query parameters")
	require.Equal(t, "wireguard-issue-certificate", paths["/wg/issue/{role}"].(map[string]any)["post"].(map[string]any)["operationId"])
	require.Equal(t, "wireguard-report-gateway-status", paths["/wg/gateways/{name}/status"].(map[string]any)["post"].(map[string]any)["operationId"])

	s.cli("delete", "wg/gateways/gw1")
	s.cli("write", "wg/gateways/gw1", "endpoint=198.51.100.1:51820", "public_key="+mustPub(t), "address_pool=10.77.0.0/16")
	st, err = s.root.Logical().Read("wg/gateways/gw1/status")
	require.NoError(t, err)
	require.Empty(t, st.Data["instances"], "the deleted gateway's status went with it")
}

func mapKeys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

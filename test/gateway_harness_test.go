package test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/peerfeed"
	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/test/internal/harness"
)

// A gatewayProc is a wg-gateway daemon run by a test.
type gatewayProc struct {
	*harness.Gateway
	t       *testing.T
	out     *syncBuffer
	metrics string
}

// startGateway starts bin/wg-gateway with args, talking to Vault at
// vaultAddr, reporting its status every 50ms and logging at debug level;
// it is stopped at the end of the test.
func startGateway(t *testing.T, vaultAddr string, args ...string) *gatewayProc {
	t.Helper()
	g := harness.StartGateway(t, harness.GatewayOptions{
		VaultAddr: vaultAddr,
		Args:      append([]string{"-status-interval", "50ms", "-log-level", "debug"}, args...),
	})
	return &gatewayProc{Gateway: g, t: t, out: g.Out, metrics: g.Metrics}
}

// start runs the daemon again after stop or kill.
func (g *gatewayProc) start() {
	g.t.Helper()
	g.Start()
}

// stop sends SIGTERM and waits; it reports whether the daemon exited 0.
func (g *gatewayProc) stop() bool { return g.Stop() }

// kill stops the daemon with SIGKILL, as a crash would.
func (g *gatewayProc) kill() { g.Kill() }

// hup sends SIGHUP: the daemon re-reads its files and resyncs.
func (g *gatewayProc) hup() {
	g.t.Helper()
	require.NoError(g.t, g.Hup())
}

// metric returns the value of one series of the daemon's /metrics, or -1.
func (g *gatewayProc) metric(series string) float64 { return g.Metric(series) }

// get fetches a path of the daemon's metrics listener.
func (g *gatewayProc) get(path string) (int, string) { return g.Get(path) }

// waitHealthy waits until /healthz answers 200.
func (g *gatewayProc) waitHealthy() {
	g.t.Helper()
	g.WaitHealthy()
}

// feedTamperer is a reverse proxy in front of Vault that adds entries to
// the peers of every peer-feed answer while inject is set, and CAs of its
// own to ca/pem while extraCA is set: what a compromised or buggy path
// between Vault and a gateway could do.
type feedTamperer struct {
	mu      sync.Mutex
	inject  []peerfeed.Peer
	extraCA string
	down    bool // answer nothing: Vault unreachable
	conns   map[net.Conn]bool
	url     string
}

func newFeedTamperer(t *testing.T, vaultAddr string) *feedTamperer {
	t.Helper()
	target, err := url.Parse(vaultAddr)
	require.NoError(t, err)
	ft := &feedTamperer{conns: map[net.Conn]bool{}}
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.ModifyResponse = ft.modify
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ft.isDown() {
			// Like a partition: the connection just dies.
			if hj, ok := w.(http.Hijacker); ok {
				if conn, _, err := hj.Hijack(); err == nil {
					conn.Close()
					return
				}
			}
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		proxy.ServeHTTP(w, r)
	}), ConnState: ft.track}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ft.url = "http://" + l.Addr().String()
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ft
}

func (ft *feedTamperer) set(entries []peerfeed.Peer) {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	ft.inject = entries
}

// addCA makes ca/pem answer with pemText after the mount's CAs ("" stops).
func (ft *feedTamperer) addCA(pemText string) {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	ft.extraCA = pemText
}

// partition makes Vault unreachable through the proxy (down), cutting the
// connections in flight, or reachable again.
func (ft *feedTamperer) partition(down bool) {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	ft.down = down
	if down {
		for c := range ft.conns {
			c.Close()
		}
	}
}

// track keeps the set of open client connections.
func (ft *feedTamperer) track(c net.Conn, state http.ConnState) {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	switch state {
	case http.StateNew:
		ft.conns[c] = true
	case http.StateClosed, http.StateHijacked:
		delete(ft.conns, c)
	}
}

func (ft *feedTamperer) isDown() bool {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	return ft.down
}

func (ft *feedTamperer) modify(resp *http.Response) error {
	ft.mu.Lock()
	inject, extraCA := ft.inject, ft.extraCA
	ft.mu.Unlock()
	if extraCA != "" && resp.StatusCode == http.StatusOK && resp.Request.URL.Path == "/v1/wg/ca/pem" {
		return replaceBody(resp, func(body []byte) ([]byte, error) { return append(body, extraCA...), nil })
	}
	if len(inject) == 0 || resp.StatusCode != http.StatusOK || !isPeersPath(resp.Request.URL.Path) {
		return nil
	}
	return replaceBody(resp, func(body []byte) ([]byte, error) {
		var doc map[string]any
		if err := json.Unmarshal(body, &doc); err != nil {
			return nil, err
		}
		data := doc["data"].(map[string]any)
		peers, _ := data["peers"].([]any)
		full, _ := data["full"].(bool)
		next, _ := data["next"].(string)
		after := resp.Request.URL.Query().Get("after")
		for _, e := range inject {
			// A full answer, or a page of one, is in serial order, each
			// serial once (the daemon refuses it otherwise): an entry
			// goes where the engine would put it, in the page whose
			// range holds its serial, when its serial is new.
			if full && (e.SerialNumber <= after || (next != "" && e.SerialNumber > next) || slices.ContainsFunc(peers, entrySerialIs(e.SerialNumber))) {
				continue
			}
			peers = append(peers, e)
		}
		if full {
			slices.SortStableFunc(peers, func(a, b any) int { return strings.Compare(entrySerial(a), entrySerial(b)) })
		}
		data["peers"] = peers
		return json.Marshal(doc)
	})
}

// entrySerial is the serial of a feed entry, decoded or injected.
func entrySerial(e any) string {
	switch v := e.(type) {
	case peerfeed.Peer:
		return v.SerialNumber
	case map[string]any:
		s, _ := v["serial_number"].(string)
		return s
	}
	return ""
}

// entrySerialIs matches feed entries with serial s.
func entrySerialIs(s string) func(any) bool { return func(e any) bool { return entrySerial(e) == s } }

// replaceBody replaces resp's body with what edit makes of it.
func replaceBody(resp *http.Response, edit func([]byte) ([]byte, error)) error {
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	if body, err = edit(body); err != nil {
		return err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	resp.Header.Set("Content-Length", fmt.Sprint(len(body)))
	return nil
}

func isPeersPath(p string) bool {
	matched, _ := filepath.Match("/v1/wg/gateways/*/peers", p)
	return matched
}

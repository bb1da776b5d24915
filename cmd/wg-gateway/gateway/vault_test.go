package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	vault "github.com/hashicorp/vault/api"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/peerfeed"
)

// TestLoginKeepsTheTokenInUse logs in again while the poll loop reads the
// feed: the feed request carries the old token until the new one is there,
// never none (which Vault answers with a 403 and a needless login).
func TestLoginKeepsTheTokenInUse(t *testing.T) {
	arrived, release := make(chan struct{}), make(chan struct{})
	var mu sync.Mutex
	var feedTokens []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/v1/sys/wrapping/lookup":
			w.WriteHeader(http.StatusBadRequest) // the secret id is not a wrapping token
			_, _ = w.Write([]byte(`{"errors":["not a wrapping token"]}`))
		case "/v1/auth/approle/login":
			close(arrived)
			<-release
			_, _ = w.Write([]byte(`{"auth":{"client_token":"new-token","accessor":"a","lease_duration":3600,"renewable":true}}`))
		case "/v1/wg/gateways/gw1/peers":
			mu.Lock()
			feedTokens = append(feedTokens, r.Header.Get("X-Vault-Token"))
			mu.Unlock()
			_, _ = w.Write([]byte(`{"data":{"gateway":"gw1","index":1}}`))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	api := vaultAPI(t, srv.URL)
	api.SetToken("old-token")
	v := NewVaultClient(api, appRoleConfig(t, "secret"), hclog.NewNullLogger())

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	loggedIn := make(chan error, 1)
	go func() { loggedIn <- v.Login(ctx) }()
	select {
	case <-arrived:
	case <-ctx.Done():
		t.Fatal("the login never reached Vault")
	}
	if _, err := v.Peers(ctx, FeedQuery{}, func(*peerfeed.Response, peerfeed.Peer) error { return nil }); err != nil {
		t.Fatalf("feed read during the login: %v", err)
	}
	close(release)
	if err := <-loggedIn; err != nil {
		t.Fatalf("login: %v", err)
	}
	if _, err := v.Peers(ctx, FeedQuery{}, func(*peerfeed.Response, peerfeed.Peer) error { return nil }); err != nil {
		t.Fatalf("feed read after the login: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(feedTokens) != 2 || feedTokens[0] != "old-token" || feedTokens[1] != "new-token" {
		t.Fatalf("feed requests carried tokens %q, want the old one during the login and the new one after", feedTokens)
	}
}

// TestLoginRefusedStops: Vault refusing the AppRole credentials ends the
// login at once with an error naming the files to check, instead of
// logging in again and again (the daemon then exits).
func TestLoginRefusedStops(t *testing.T) {
	var mu sync.Mutex
	logins := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/v1/sys/wrapping/lookup":
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"errors":["wrapping token is not valid or does not exist"]}`))
		case "/v1/auth/approle/login":
			mu.Lock()
			logins++
			mu.Unlock()
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"errors":["invalid role or secret ID"]}`))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	cfg := appRoleConfig(t, "wrong")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := NewVaultClient(vaultAPI(t, srv.URL), cfg, hclog.NewNullLogger()).Login(ctx)
	if ctx.Err() != nil {
		t.Fatal("the login was still retrying bad credentials after 10 s")
	}
	want := "login refused: approle login at auth/approle: invalid role or secret ID: check " + cfg.RoleIDFile + " and " + cfg.SecretIDFile
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("login error %v, want one containing %q", err, want)
	}
	mu.Lock()
	defer mu.Unlock()
	if logins != 1 {
		t.Fatalf("%d login attempts, want 1", logins)
	}
}

// TestReportSendsTheReportInterval: the status report carries the
// daemon's resync interval as report_interval, so the engine does not
// list a daemon resyncing less often than every 5 min as stale.
func TestReportSendsTheReportInterval(t *testing.T) {
	bodies := make(chan map[string]any, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/wg/gateways/gw1/status" {
			http.NotFound(w, r)
			return
		}
		body := map[string]any{}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			t.Errorf("status body: %v", err)
		}
		bodies <- body
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	cfg := &Config{Gateway: "gw1", Mount: "wg", InstanceID: "gw-a", Version: "v9", ResyncInterval: 30 * time.Minute}
	if err := NewVaultClient(vaultAPI(t, srv.URL), cfg, hclog.NewNullLogger()).Report(t.Context(), Status{Index: 7, Peers: 2, Rejected: 1}); err != nil {
		t.Fatal(err)
	}
	got := <-bodies
	want := map[string]any{"instance_id": "gw-a", "applied_index": "7", "peer_count": float64(2), "rejected": float64(1),
		"version": "v9", "report_interval": float64(1800)}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("status report %v, want %v", got, want)
	}
}

// vaultAPI is a Vault client of the server at addr.
func vaultAPI(t *testing.T, addr string) *vault.Client {
	t.Helper()
	conf := vault.DefaultConfig()
	conf.Address = addr
	api, err := vault.NewClient(conf)
	if err != nil {
		t.Fatal(err)
	}
	return api
}

// appRoleConfig is the configuration of gateway gw1 logging in with AppRole
// role id "role" and secretID, from files it writes.
func appRoleConfig(t *testing.T, secretID string) *Config {
	t.Helper()
	dir := t.TempDir()
	for name, content := range map[string]string{"role-id": "role", "secret-id": secretID} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return &Config{Gateway: "gw1", Mount: "wg", AppRoleMount: "approle",
		RoleIDFile: filepath.Join(dir, "role-id"), SecretIDFile: filepath.Join(dir, "secret-id")}
}

// TestPeersAsksForDER: every feed read asks for the certificates as DER,
// and an answer that has them so hands them over as CertificateDER; an
// answer with PEM (an engine before the choice ignores it) as Certificate.
func TestPeersAsksForDER(t *testing.T) {
	var mu sync.Mutex
	var formats []string
	pemAnswer := false
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/wg/gateways/gw1/peers" {
			http.NotFound(w, r)
			return
		}
		mu.Lock()
		formats = append(formats, r.URL.Query().Get("certificate_format"))
		asPEM := pemAnswer
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		cert := `"certificate_der":"AQID"`
		if asPEM {
			cert = `"certificate":"-----BEGIN CERTIFICATE-----\nAQID\n-----END CERTIFICATE-----\n"`
		}
		_, _ = w.Write([]byte(`{"data":{"gateway":"gw1","index":1,"full":true,"peers":[{"serial_number":"01",` + cert + `}]}}`))
	}))
	defer srv.Close()
	v := NewVaultClient(vaultAPI(t, srv.URL), appRoleConfig(t, "secret"), hclog.NewNullLogger())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var got []peerfeed.Peer
	collect := func(_ *peerfeed.Response, p peerfeed.Peer) error { got = append(got, p); return nil }
	for _, q := range []FeedQuery{{}, {Limit: 500}, {Limit: 1000, After: "01"}, {Index: 7, Wait: time.Second}} {
		if _, err := v.Peers(ctx, q, collect); err != nil {
			t.Fatalf("%+v: %v", q, err)
		}
	}
	mu.Lock()
	pemAnswer = true
	mu.Unlock()
	if _, err := v.Peers(ctx, FeedQuery{}, collect); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"der", "der", "der", "der", "der"}; !reflect.DeepEqual(formats, want) {
		t.Fatalf("certificate_format asked %q, want %q", formats, want)
	}
	if len(got) != 5 || !reflect.DeepEqual(got[0].CertificateDER, []byte{1, 2, 3}) || got[0].Certificate != "" ||
		got[4].CertificateDER != nil || !strings.Contains(got[4].Certificate, "AQID") {
		t.Fatalf("peers %+v", got)
	}
}

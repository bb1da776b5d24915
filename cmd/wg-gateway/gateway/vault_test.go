package gateway

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	vault "github.com/hashicorp/vault/api"
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

	dir := t.TempDir()
	for name, content := range map[string]string{"role-id": "role", "secret-id": "secret"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	conf := vault.DefaultConfig()
	conf.Address = srv.URL
	api, err := vault.NewClient(conf)
	if err != nil {
		t.Fatal(err)
	}
	api.SetToken("old-token")
	cfg := &Config{Gateway: "gw1", Mount: "wg", AppRoleMount: "approle",
		RoleIDFile: filepath.Join(dir, "role-id"), SecretIDFile: filepath.Join(dir, "secret-id")}
	v := NewVaultClient(api, cfg, hclog.NewNullLogger())

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	loggedIn := make(chan error, 1)
	go func() { _, err := v.login(ctx); loggedIn <- err }()
	select {
	case <-arrived:
	case <-ctx.Done():
		t.Fatal("the login never reached Vault")
	}
	if _, err := v.Peers(ctx, 0, time.Second); err != nil {
		t.Fatalf("feed read during the login: %v", err)
	}
	close(release)
	if err := <-loggedIn; err != nil {
		t.Fatalf("login: %v", err)
	}
	if _, err := v.Peers(ctx, 0, time.Second); err != nil {
		t.Fatalf("feed read after the login: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(feedTokens) != 2 || feedTokens[0] != "old-token" || feedTokens[1] != "new-token" {
		t.Fatalf("feed requests carried tokens %q, want the old one during the login and the new one after", feedTokens)
	}
}

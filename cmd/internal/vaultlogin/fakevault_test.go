package vaultlogin

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	vault "github.com/hashicorp/vault/api"
	"github.com/stretchr/testify/require"
)

// fakeVault answers the login endpoints a test sets, and records every
// request's path and body.
type fakeVault struct {
	t        *testing.T
	srv      *httptest.Server
	mu       sync.Mutex
	handlers map[string]func(body map[string]any) (int, string)
	requests []fakeRequest
}

type fakeRequest struct {
	path  string
	token string
	body  map[string]any
}

func newFakeVault(t *testing.T) *fakeVault {
	f := &fakeVault{t: t, handlers: map[string]func(map[string]any) (int, string){}}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body := map[string]any{}
		_ = json.NewDecoder(r.Body).Decode(&body) // an empty body stays empty
		f.mu.Lock()
		f.requests = append(f.requests, fakeRequest{r.URL.Path, r.Header.Get("X-Vault-Token"), body})
		h := f.handlers[r.URL.Path]
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if h == nil {
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"errors":["no handler for route"]}`))
			return
		}
		code, resp := h(body)
		w.WriteHeader(code)
		_, _ = w.Write([]byte(resp))
	}))
	t.Cleanup(f.srv.Close)
	return f
}

// handle sets the answer to path.
func (f *fakeVault) handle(path string, h func(body map[string]any) (int, string)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.handlers[path] = h
}

// paths lists the paths asked for, in order.
func (f *fakeVault) paths() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, r := range f.requests {
		out = append(out, r.path)
	}
	return out
}

// last is the last request to path.
func (f *fakeVault) last(path string) fakeRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := len(f.requests) - 1; i >= 0; i-- {
		if f.requests[i].path == path {
			return f.requests[i]
		}
	}
	f.t.Fatalf("no request to %s", path)
	return fakeRequest{}
}

// client is a Vault client of the fake, without retries.
func (f *fakeVault) client() *vault.Client {
	conf := vault.DefaultConfig()
	conf.Address = f.srv.URL
	conf.MaxRetries = 0
	c, err := vault.NewClient(conf)
	require.NoError(f.t, err)
	c.ClearToken()
	return c
}

// answer is a JSON answer with code.
func answer(code int, resp string) func(map[string]any) (int, string) {
	return func(map[string]any) (int, string) { return code, resp }
}

const loginOK = `{"auth":{"client_token":"hvs.login","accessor":"acc","lease_duration":3600,"renewable":true}}`

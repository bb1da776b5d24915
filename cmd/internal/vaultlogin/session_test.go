package vaultlogin

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/cmd/internal/backoff"
)

// logLines is a log a test follows: every line logged, in order.
type logLines chan string

func (l logLines) Write(p []byte) (int, error) {
	l <- string(p)
	return len(p), nil
}

// waitLine waits up to 10 s for a line logged containing text.
func (l logLines) waitLine(t *testing.T, text string) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case line := <-l:
			if strings.Contains(line, text) {
				return
			}
		case <-deadline:
			t.Fatalf("timed out waiting for a log line with %q", text)
		}
	}
}

// count is how many requests went to path.
func (f *fakeVault) count(path string) int {
	n := 0
	for _, p := range f.paths() {
		if p == path {
			n++
		}
	}
	return n
}

var quickRetry = backoff.Backoff{Min: time.Millisecond, Max: 5 * time.Millisecond}

// TestSessionStopsOnRefusal: a session whose credentials Vault refuses
// stops logging in — at start it returns the refusal at once, and while
// running it waits for CredentialsChanged — instead of retrying forever.
func TestSessionStopsOnRefusal(t *testing.T) {
	f := newFakeVault(t)
	f.handle("/v1/sys/wrapping/lookup", answer(400, `{"errors":["wrapping token is not valid or does not exist"]}`))
	f.handle("/v1/auth/approle/login", answer(400, `{"errors":["invalid role or secret ID"]}`))
	f.handle("/v1/auth/token/renew-self", answer(200, loginOK))
	log := make(logLines, 100)
	logger := hclog.New(&hclog.LoggerOptions{Output: log})
	c := appRoleFiles(t, "6f8a2c1e-secret", 0o600)
	s := NewSession(f.client(), New(c, logger), quickRetry, logger)

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	err := s.Login(ctx)
	require.ErrorIs(t, err, ErrCredentialsRefused)
	require.ErrorContains(t, err, "approle login at auth/approle: invalid role or secret ID: check "+c.RoleIDFile)
	require.Equal(t, 1, f.count("/v1/auth/approle/login"), "refused once, not retried")

	// Vault accepts the login now; a 403 later sends the session to log
	// in again, which Vault refuses: it waits for new credentials.
	f.handle("/v1/auth/approle/login", answer(200, loginOK))
	require.NoError(t, s.Login(ctx))
	done := make(chan struct{})
	go func() { defer close(done); s.KeepLoggedIn(ctx) }()
	f.handle("/v1/auth/approle/login", answer(400, `{"errors":["invalid role or secret ID"]}`))
	s.Refused()
	log.waitLine(t, "Vault refused the login: not logging in again until the credentials are reloaded (SIGHUP)")
	require.Equal(t, 3, f.count("/v1/auth/approle/login"), "the refused login is not retried")

	f.handle("/v1/auth/approle/login", answer(200, loginOK))
	s.CredentialsChanged()
	log.waitLine(t, "logged in to Vault")
	require.Equal(t, 4, f.count("/v1/auth/approle/login"))
	cancel()
	<-done
}

// TestSessionRetriesOutages: a Vault that answers 503 is asked again until
// it answers.
func TestSessionRetriesOutages(t *testing.T) {
	f := newFakeVault(t)
	f.handle("/v1/sys/wrapping/lookup", answer(400, `{"errors":["wrapping token is not valid or does not exist"]}`))
	var mu sync.Mutex
	attempts := 0
	f.handle("/v1/auth/approle/login", func(map[string]any) (int, string) {
		mu.Lock()
		defer mu.Unlock()
		if attempts++; attempts < 3 {
			return 503, `{"errors":["Vault is sealed"]}`
		}
		return 200, loginOK
	})
	client := f.client()
	s := NewSession(client, New(appRoleFiles(t, "6f8a2c1e-secret", 0o600), hclog.NewNullLogger()), quickRetry, hclog.NewNullLogger())
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	require.NoError(t, s.Login(ctx))
	require.Equal(t, 3, attempts)
	require.Equal(t, "hvs.login", client.Token())
}

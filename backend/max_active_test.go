package backend

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
	"github.com/stretchr/testify/require"
)

// hookStorage runs a hook before every Put; the hook may block or fail it.
type hookStorage struct {
	logical.Storage
	mu   sync.Mutex
	hook func(key string) error
}

func (h *hookStorage) setHook(f func(key string) error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.hook = f
}

func (h *hookStorage) Put(ctx context.Context, e *logical.StorageEntry) error {
	h.mu.Lock()
	f := h.hook
	h.mu.Unlock()
	if f != nil {
		if err := f(e.Key); err != nil {
			return err
		}
	}
	return h.Storage.Put(ctx, e)
}

var errInjected = errors.New("injected storage failure")

// hooked puts a hookStorage in front of env's storage.
func (e *testEnv) hooked() *hookStorage {
	h := &hookStorage{Storage: e.storage}
	e.storage = h
	return h
}

// within waits for ch for at most 10 s.
func within[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		require.FailNow(t, "timed out waiting for "+what)
		panic("unreachable")
	}
}

type issued struct {
	resp *logical.Response
	err  error
}

// issueAsync issues on role as who in the background.
func (e *testEnv) issueAsync(who, role string) <-chan issued {
	done := make(chan issued, 1)
	key := mustKey(e.t)
	go func() {
		resp, err := e.doAs(who, logical.UpdateOperation, "issue/"+role, map[string]any{"public_key": key})
		done <- issued{resp, err}
	}()
	return done
}

func (e *testEnv) revoked(serial string) bool {
	e.t.Helper()
	return e.ok(logical.ReadOperation, "cert/"+serial, nil).Data["revoked"].(bool)
}

// TestMaxActiveIgnoresPendingIssues: while one of alice's certificates is
// still being written, another of her issues under max_active_per_identity=1
// commits. The pending one is not hers to count yet, so the committing issue
// must not evict its own certificate and return it as if live.
func TestMaxActiveIgnoresPendingIssues(t *testing.T) {
	env := newTestEnv(t)
	env.ok(logical.UpdateOperation, "roles/laptop", map[string]any{"max_active_per_identity": 1})
	env.ok(logical.UpdateOperation, "roles/other", map[string]any{"gateway": "gw1"})
	h := env.hooked()
	type held struct {
		key     string
		release chan struct{}
	}
	arrived := make(chan held)
	h.setHook(func(key string) error {
		if !strings.HasPrefix(key, certStoragePrefix) {
			return nil
		}
		release := make(chan struct{})
		arrived <- held{key, release}
		<-release
		return nil
	})

	first := env.issueAsync("alice", "laptop")
	firstPut := within(t, arrived, "the first issue's write")
	second := env.issueAsync("alice", "other")
	secondPut := within(t, arrived, "the second issue's write")
	h.setHook(nil)
	releaseFirst, releaseSecond := sync.OnceFunc(func() { close(firstPut.release) }), sync.OnceFunc(func() { close(secondPut.release) })
	t.Cleanup(releaseFirst) // a failing test leaves no request blocked
	t.Cleanup(releaseSecond)

	releaseFirst()
	got := within(t, first, "the first issue")
	require.NoError(t, got.err)
	require.False(t, got.resp.IsError(), "%v", got.resp.Error())
	serial := got.resp.Data["serial_number"].(string)
	require.False(t, env.revoked(serial), "the issue returned a certificate it had revoked itself")

	releaseSecond()
	got2 := within(t, second, "the second issue")
	require.NoError(t, got2.err)
	require.ElementsMatch(t, []string{serial, got2.resp.Data["serial_number"].(string)}, env.feedSerials())
}

// TestMaxActiveEvictionFailureLeavesNothing: when revoking the certificate
// that max_active_per_identity pushes out fails, the issue fails and the new
// certificate is nowhere: not in the feed, not in storage, not after a
// reload. The old one stays live.
func TestMaxActiveEvictionFailureLeavesNothing(t *testing.T) {
	env := newTestEnv(t)
	env.ok(logical.UpdateOperation, "roles/laptop", map[string]any{"max_active_per_identity": 1})
	old := env.issue("alice").Data["serial_number"].(string)
	h := env.hooked()
	h.setHook(func(key string) error {
		if key == certStoragePrefix+old {
			return errInjected
		}
		return nil
	})

	_, err := env.doAs("alice", logical.UpdateOperation, "issue/laptop", map[string]any{"public_key": mustKey(t)})
	require.ErrorIs(t, err, errInjected)
	h.setHook(nil)

	require.Equal(t, []string{old}, env.feedSerials())
	require.Equal(t, []any{old}, toAny(env.ok(logical.ListOperation, "certs/", nil).Data["keys"]))
	require.False(t, env.revoked(old))
	env.reload()
	require.Equal(t, []string{old}, env.feedSerials())

	// Once storage works again the issue replaces the old certificate.
	fresh := env.issue("alice").Data["serial_number"].(string)
	require.True(t, env.revoked(old))
	require.Equal(t, []string{fresh}, env.feedSerials())
}

// TestMaxActiveUnderConcurrency: many concurrent issues of one identity end
// with exactly max_active_per_identity live certificates, every one of them
// returned by a successful issue.
func TestMaxActiveUnderConcurrency(t *testing.T) {
	env := newTestEnv(t)
	env.ok(logical.UpdateOperation, "roles/laptop", map[string]any{"max_active_per_identity": 2})
	const n = 24
	results := make([]<-chan issued, n)
	for i := range results {
		results[i] = env.issueAsync("alice", "laptop")
	}
	returned := map[string]bool{}
	for i, ch := range results {
		got := within(t, ch, fmt.Sprintf("issue %d", i))
		require.NoError(t, got.err)
		require.False(t, got.resp.IsError(), "%v", got.resp.Error())
		returned[got.resp.Data["serial_number"].(string)] = true
	}
	live := env.feedSerials()
	require.Len(t, live, 2)
	for _, s := range live {
		require.True(t, returned[s], s)
	}
}

func toAny(v any) []any {
	var out []any
	switch l := v.(type) {
	case []string:
		for _, s := range l {
			out = append(out, s)
		}
	case []any:
		out = l
	}
	return out
}

func TestMaxActivePerIdentity(t *testing.T) {
	env := newTestEnv(t)
	env.ok(logical.UpdateOperation, "roles/laptop", map[string]any{"max_active_per_identity": 2})
	first := env.issue("alice")
	second := env.issue("alice")
	other := env.issue("bob")
	third := env.issue("alice")

	state := func(r *logical.Response) bool {
		return env.ok(logical.ReadOperation, "cert/"+r.Data["serial_number"].(string), nil).Data["revoked"].(bool)
	}
	require.True(t, state(first), "the oldest of alice's three is revoked")
	require.False(t, state(second))
	require.False(t, state(third))
	require.False(t, state(other), "bob is counted apart")
}

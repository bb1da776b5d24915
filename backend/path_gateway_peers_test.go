package backend

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
	"github.com/stretchr/testify/require"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/peerfeed"
)

// peers reads the gateway gw1's feed from index since.
func (e *testEnv) peers(since string) peerfeed.Response {
	e.t.Helper()
	return e.peersWait(since, "")
}

func (e *testEnv) peersWait(since, wait string) peerfeed.Response {
	e.t.Helper()
	data := map[string]any{"index": since}
	if wait != "" {
		data["wait"] = wait
	}
	resp := e.ok(logical.ReadOperation, "gateways/gw1/peers", data)
	require.Equal(e.t, "application/json", resp.Data[logical.HTTPContentType])
	var body struct {
		Data peerfeed.Response `json:"data"`
	}
	require.NoError(e.t, json.Unmarshal(resp.Data[logical.HTTPRawBody].([]byte), &body))
	return body.Data
}

func TestPeersLongPoll(t *testing.T) {
	env := newTestEnv(t)
	resp := env.issue("alice")
	start := env.peers("0")

	// Up to date, nothing happens: the wait runs out with an empty delta.
	began := time.Now()
	idle := env.peersWait(itoa(start.Index), "1s")
	require.GreaterOrEqual(t, time.Since(began), time.Second)
	require.Equal(t, start.Index, idle.Index)
	require.False(t, idle.Full)
	require.Empty(t, idle.Peers)

	// A revocation wakes the waiter at once.
	go func() {
		time.Sleep(200 * time.Millisecond)
		env.revokeLease(resp)
	}()
	began = time.Now()
	woke := env.peersWait(itoa(start.Index), "30s")
	require.Less(t, time.Since(began), 5*time.Second)
	require.Len(t, woke.Removed, 1)

	// An index the feed does not know gets the full set.
	require.True(t, env.peers("12345").Full)
	require.True(t, env.peers(itoa(woke.Index+100)).Full)
	env.fails(logical.ReadOperation, "gateways/gw1/peers", map[string]any{"index": "x"}, `index: "x" is not a revision number`)
	env.fails(logical.ReadOperation, "gateways/nope/peers", nil, `name: unknown gateway "nope"`)
}

func TestPeersLongPollReturnsOnCancel(t *testing.T) {
	env := newTestEnv(t)
	start := env.peers("0")
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	began := time.Now()
	_, err := env.b.HandleRequest(ctx, &logical.Request{
		Operation: logical.ReadOperation, Path: "gateways/gw1/peers", Storage: env.storage,
		Data: map[string]any{"index": itoa(start.Index), "wait": "60s"},
	})
	require.NoError(t, err)
	require.Less(t, time.Since(began), 5*time.Second)
}

// A long-poll never holds Vault for long, whatever wait asks: Vault waits
// for requests in flight before it seals or steps down.
func TestPeersLongPollHeldAtMostASecond(t *testing.T) {
	env := newTestEnv(t)
	start := env.peers("0")
	began := time.Now()
	idle := env.peersWait(itoa(start.Index), "60s")
	held := time.Since(began)
	require.GreaterOrEqual(t, held, time.Second, "held until the wait is cut")
	require.Less(t, held, 1500*time.Millisecond, "a seal must not wait for it")
	require.Equal(t, start.Index, idle.Index, "nothing changed: same index, poll again")
	require.False(t, idle.Full)
	require.Empty(t, idle.Peers)
	require.Empty(t, idle.Removed)
}

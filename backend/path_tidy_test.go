package backend

import (
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
	"github.com/stretchr/testify/require"
)

func TestTidy(t *testing.T) {
	env := newTestEnv(t)
	short := env.ok(logical.UpdateOperation, "issue/laptop", map[string]any{"public_key": mustKey(t), "ttl": "1h"})
	long := env.ok(logical.UpdateOperation, "issue/laptop", map[string]any{"public_key": mustKey(t), "ttl": "20h"})

	resp := env.ok(logical.UpdateOperation, "tidy", nil)
	require.Equal(t, 0, resp.Data["deleted"])

	env.b.clock.set(func() time.Time { return time.Now().Add(10 * time.Hour) })
	resp = env.ok(logical.UpdateOperation, "tidy", map[string]any{"safety_buffer": "1h"})
	require.Equal(t, 1, resp.Data["deleted"])
	require.Nil(t, env.ok(logical.ReadOperation, "cert/"+short.Data["serial_number"].(string), nil))
	require.NotNil(t, env.ok(logical.ReadOperation, "cert/"+long.Data["serial_number"].(string), nil))
	require.Len(t, env.peers("0").Peers, 1)
}

// TestPeriodicTidyKeepsItsSchedule: the periodic function tidies an hour
// after the last tidy, and a restart (a plugin reload, a leader change)
// does not bring that forward. Every start used to tidy at its first
// periodic call: at 200,000 records, a tidy lists them all and deletes the
// loose copies of the packed ones, a minute of storage work beside the
// busiest moment of a new active node.
func TestPeriodicTidyKeepsItsSchedule(t *testing.T) {
	env := newTestEnv(t)
	start := time.Now()
	periodicAt := func(d time.Duration) {
		t.Helper()
		env.b.clock.set(func() time.Time { return start.Add(d) })
		require.NoError(t, env.b.periodic(t.Context(), &logical.Request{Storage: env.storage}))
	}
	// A tidy deletes the loose copies of packed records; the periodic
	// function packs them every time.
	for range 3 {
		env.issue("alice")
	}
	periodicAt(0)
	require.Len(t, env.keys(certStoragePrefix), 3, "no tidy at the first periodic call")
	env.reload()
	periodicAt(30 * time.Minute)
	require.Len(t, env.keys(certStoragePrefix), 3, "nor after a restart half an hour later")
	env.reload()
	periodicAt(61 * time.Minute)
	require.Empty(t, env.keys(certStoragePrefix), "a tidy an hour after the schedule began")

	env.issue("bob")
	periodicAt(62 * time.Minute)
	env.reload()
	periodicAt(90 * time.Minute)
	require.Len(t, env.keys(certStoragePrefix), 1, "no tidy after a restart half an hour after the last")
	periodicAt(122 * time.Minute)
	require.Empty(t, env.keys(certStoragePrefix), "the next an hour after the last")

	// A tidy asked for (wg/tidy) counts as the last one too.
	env.issue("carol")
	periodicAt(150 * time.Minute)
	env.ok(logical.UpdateOperation, "tidy", nil)
	env.issue("dave")
	periodicAt(190 * time.Minute)
	require.Len(t, env.keys(certStoragePrefix), 1, "no tidy 40 minutes after one asked for")
	periodicAt(211 * time.Minute)
	require.Empty(t, env.keys(certStoragePrefix))
}

package backend

import (
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
	"github.com/stretchr/testify/require"
)

// report writes a status for instance at the given applied index, at the
// backend's clock.
func (e *testEnv) report(gateway, instance string, applied uint64, extra map[string]any) {
	e.t.Helper()
	data := map[string]any{"instance_id": instance, "applied_index": itoa(applied), "peer_count": 1}
	for k, v := range extra {
		data[k] = v
	}
	e.ok(logical.UpdateOperation, "gateways/"+gateway+"/status", data)
}

// A retired instance stops counting against enforced once it has missed
// three report intervals; it stays listed, as stale, until deleted.
func TestGatewayStatusStaleInstance(t *testing.T) {
	env := newTestEnv(t)
	env.issue("alice")
	index := env.peers("0").Index
	start := time.Now()
	env.b.clock.set(func() time.Time { return start })
	env.report("gw1", "retired", index-1, nil)
	env.report("gw1", "quick", index-1, map[string]any{"report_interval": "10s"})

	env.b.clock.set(func() time.Time { return start.Add(14 * time.Minute) })
	env.report("gw1", "live", index, nil)
	st := env.ok(logical.ReadOperation, "gateways/gw1/status", nil)
	require.Equal(t, false, st.Data["enforced"], "retired has missed under 3 intervals of 5m: it still counts")
	instances := st.Data["instances"].(map[string]any)
	require.Equal(t, true, instances["quick"].(map[string]any)["stale"], "3 × 10s have passed")
	require.Equal(t, false, instances["retired"].(map[string]any)["stale"])

	env.b.clock.set(func() time.Time { return start.Add(16 * time.Minute) })
	st = env.ok(logical.ReadOperation, "gateways/gw1/status", nil)
	require.Equal(t, true, st.Data["enforced"], "only the live instance counts")
	instances = st.Data["instances"].(map[string]any)
	require.Len(t, instances, 3, "stale instances are still listed")
	require.Equal(t, true, instances["retired"].(map[string]any)["stale"])
	require.Equal(t, false, instances["retired"].(map[string]any)["in_sync"])
	require.Equal(t, false, instances["live"].(map[string]any)["stale"])

	// Once every instance is stale, nobody is known to enforce anything.
	env.b.clock.set(func() time.Time { return start.Add(time.Hour) })
	st = env.ok(logical.ReadOperation, "gateways/gw1/status", nil)
	require.Equal(t, false, st.Data["enforced"])

	env.fails(logical.UpdateOperation, "gateways/gw1/status", map[string]any{"instance_id": "a", "report_interval": "0s"}, "report_interval: must be between 1s and 24h0m0s")
	env.fails(logical.UpdateOperation, "gateways/gw1/status", map[string]any{"instance_id": "a", "report_interval": "48h"}, "report_interval: must be between 1s and 24h0m0s")
}

func TestSummarizeStatus(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	at := func(ago time.Duration, applied uint64, every int) statusEntry {
		return statusEntry{InstanceID: ago.String(), AppliedIndex: applied, UpdatedAt: now.Add(-ago), ReportInterval: every}
	}
	for name, tc := range map[string]struct {
		entries  []statusEntry
		enforced bool
	}{
		"none":                         {nil, false},
		"one in sync":                  {[]statusEntry{at(0, 10, 0)}, true},
		"one behind":                   {[]statusEntry{at(0, 9, 0)}, false},
		"ahead counts as in sync":      {[]statusEntry{at(0, 11, 0)}, true},
		"behind but stale":             {[]statusEntry{at(0, 10, 0), at(15*time.Minute+time.Second, 9, 0)}, true},
		"behind, exactly at the limit": {[]statusEntry{at(0, 10, 0), at(15*time.Minute, 9, 0)}, false},
		"all stale":                    {[]statusEntry{at(time.Hour, 10, 0)}, false},
		"own interval, stale":          {[]statusEntry{at(0, 10, 0), at(31*time.Second, 9, 10)}, true},
		"own interval, fresh":          {[]statusEntry{at(0, 10, 0), at(29*time.Second, 9, 10)}, false},
	} {
		t.Run(name, func(t *testing.T) {
			instances, enforced := summarizeStatus(now, 10, tc.entries)
			require.Equal(t, tc.enforced, enforced)
			require.Len(t, instances, len(tc.entries))
		})
	}
}

// A retired instance's status can be deleted; deleting a gateway deletes
// the status of all its instances.
func TestGatewayStatusDelete(t *testing.T) {
	env := newTestEnv(t)
	index := env.peers("0").Index
	env.report("gw1", "gw-a", index, nil)
	env.report("gw1", "gw-b", index-1, nil)
	require.Equal(t, false, env.ok(logical.ReadOperation, "gateways/gw1/status", nil).Data["enforced"])

	env.ok(logical.DeleteOperation, "gateways/gw1/status/gw-b", nil)
	env.ok(logical.DeleteOperation, "gateways/gw1/status/gw-b", nil) // idempotent
	st := env.ok(logical.ReadOperation, "gateways/gw1/status", nil)
	require.Equal(t, true, st.Data["enforced"])
	require.Len(t, st.Data["instances"], 1)

	gw2 := map[string]any{"endpoint": "198.51.100.2:51820", "public_key": env.gwKey, "address_pool": "10.78.0.0/16"}
	env.ok(logical.UpdateOperation, "gateways/gw2", gw2)
	env.report("gw2", "gw2-a", 1, nil)
	env.ok(logical.DeleteOperation, "gateways/gw2", nil)
	keys, err := env.storage.List(t.Context(), statusStoragePrefix+"gw2/")
	require.NoError(t, err)
	require.Empty(t, keys, "the gateway's status went with it")
	env.fails(logical.UpdateOperation, "gateways/gw2/status", map[string]any{"instance_id": "gw2-a"}, `name: unknown gateway "gw2"`)

	env.ok(logical.UpdateOperation, "gateways/gw2", gw2)
	require.Empty(t, env.ok(logical.ReadOperation, "gateways/gw2/status", nil).Data["instances"], "a new gateway of the same name starts clean")
}

func TestGatewayStatus(t *testing.T) {
	env := newTestEnv(t)
	env.issue("alice")
	index := env.peers("0").Index
	env.ok(logical.UpdateOperation, "gateways/gw1/status", map[string]any{
		"instance_id": "gw-a", "applied_index": itoa(index), "peer_count": 1,
	})
	env.ok(logical.UpdateOperation, "gateways/gw1/status", map[string]any{
		"instance_id": "gw-b", "applied_index": itoa(index - 1), "peer_count": 0,
	})
	st := env.ok(logical.ReadOperation, "gateways/gw1/status", nil)
	require.Equal(t, index, st.Data["index"])
	require.Equal(t, false, st.Data["enforced"], "gw-b is behind")
	env.ok(logical.UpdateOperation, "gateways/gw1/status", map[string]any{
		"instance_id": "gw-b", "applied_index": itoa(index), "peer_count": 1,
	})
	st = env.ok(logical.ReadOperation, "gateways/gw1/status", nil)
	require.Equal(t, true, st.Data["enforced"])
	env.fails(logical.UpdateOperation, "gateways/gw1/status", map[string]any{"instance_id": "../x"}, "instance_id")
}

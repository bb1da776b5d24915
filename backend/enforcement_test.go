package backend

import (
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
	"github.com/stretchr/testify/require"
)

// answerOf runs op on path in the background and hands its answer over.
func (e *testEnv) answerOf(op logical.Operation, path string, data map[string]any) <-chan *logical.Response {
	out := make(chan *logical.Response, 1)
	go func() {
		resp, err := e.do(op, path, data)
		if err != nil {
			resp = logical.ErrorResponse("%s", err)
		}
		out <- resp
	}()
	return out
}

// notYet fails when answer came before a little while has passed.
func notYet(t *testing.T, answer <-chan *logical.Response, why string) {
	t.Helper()
	select {
	case resp := <-answer:
		t.Fatalf("answered too early (%s): %v", why, resp.Data)
	case <-time.After(50 * time.Millisecond):
	}
}

// receive waits for answer, at most 10s.
func receive(t *testing.T, answer <-chan *logical.Response) *logical.Response {
	t.Helper()
	select {
	case resp := <-answer:
		require.False(t, resp.IsError(), "%v", resp.Error())
		return resp
	case <-time.After(10 * time.Second):
		t.Fatal("no answer in 10s")
		return nil
	}
}

// A revocation with confirm answers once every fresh instance reported the
// revision that removed the certificate, naming them; a stale instance
// does not hold it back but is listed.
func TestRevokeConfirmWaitsForEveryInstance(t *testing.T) {
	env := newTestEnv(t)
	serial := env.issue("alice").Data["serial_number"].(string)
	before := env.peers("0").Index
	start := time.Now()
	env.b.clock.set(func() time.Time { return start.Add(-time.Hour) })
	env.report("gw1", "gone", before, nil)
	env.b.clock.set(func() time.Time { return start })
	env.report("gw1", "a", before, nil)
	env.report("gw1", "b", before, nil)

	answer := env.answerOf(logical.UpdateOperation, "revoke", map[string]any{"serial_number": serial, "confirm": "10s"})
	notYet(t, answer, "nobody applied the revocation")
	after := env.peersWait(itoa(before), "1s").Index
	require.Greater(t, after, before)
	env.report("gw1", "a", after, nil)
	notYet(t, answer, "b has not applied it")
	env.report("gw1", "b", after, nil)
	resp := receive(t, answer)
	require.Equal(t, true, resp.Data["enforced"])
	require.Equal(t, []string{"gw1/a", "gw1/b"}, resp.Data["instances"])
	require.Empty(t, resp.Data["laggards"])
	stale := resp.Data["stale"].([]map[string]any)
	require.Len(t, stale, 1)
	require.Equal(t, "gone", stale[0]["instance_id"])
	require.Equal(t, []string{serial}, resp.Data["serial_numbers"])
}

// At the end of confirm the answer names the laggards, with what they
// applied and when they last reported.
func TestRevokeConfirmTimesOutNamingLaggards(t *testing.T) {
	env := newTestEnv(t)
	serial := env.issue("alice").Data["serial_number"].(string)
	before := env.peers("0").Index
	env.report("gw1", "a", before, nil)
	env.report("gw1", "slow", before, nil)
	answer := env.answerOf(logical.UpdateOperation, "revoke", map[string]any{"serial_number": serial, "confirm": "1s"})
	after := env.peersWait(itoa(before), "1s").Index
	env.report("gw1", "a", after, nil)
	resp := receive(t, answer)
	require.Equal(t, false, resp.Data["enforced"])
	require.Equal(t, []string{"gw1/a"}, resp.Data["instances"])
	laggards := resp.Data["laggards"].([]map[string]any)
	require.Len(t, laggards, 1)
	require.Equal(t, "slow", laggards[0]["instance_id"])
	require.Equal(t, before, laggards[0]["applied_index"])
	require.Equal(t, after, laggards[0]["index"])
	require.NotEmpty(t, laggards[0]["last_report"])
}

// A gateway nobody reports for answers at once: nothing enforces there.
func TestRevokeConfirmUnwatchedGateway(t *testing.T) {
	env := newTestEnv(t)
	serial := env.issue("alice").Data["serial_number"].(string)
	resp := receive(t, env.answerOf(logical.UpdateOperation, "revoke", map[string]any{"serial_number": serial, "confirm": "30s"}))
	require.Equal(t, false, resp.Data["enforced"])
	require.Equal(t, []string{"gw1"}, resp.Data["unwatched_gateways"])
}

func TestRevokeConfirmBounds(t *testing.T) {
	env := newTestEnv(t)
	serial := env.issue("alice").Data["serial_number"].(string)
	env.fails(logical.UpdateOperation, "revoke", map[string]any{"serial_number": serial, "confirm": "31s"}, "confirm: must be between 0s and 30s")
	env.fails(logical.UpdateOperation, "revoke", map[string]any{"serial_number": serial, "confirm": "-1s"}, "confirm: cannot provide negative value")
	require.NotNil(t, env.b.reg.lookup(serial), "a refused confirm revokes nothing")
	resp := env.ok(logical.UpdateOperation, "revoke", map[string]any{"serial_number": serial})
	require.NotContains(t, resp.Data, "enforced", "no confirm, no wait")
}

// After a lease revocation, a status read with index and wait returns when
// every fresh instance has applied that index.
func TestGatewayStatusWaitsForIndex(t *testing.T) {
	env := newTestEnv(t)
	issued := env.issue("alice")
	before := env.peers("0").Index
	env.report("gw1", "a", before, nil)
	env.revokeLease(issued)
	target := env.ok(logical.ReadOperation, "gateways/gw1/status", nil).Data["index"].(uint64)
	require.Greater(t, target, before)

	answer := env.answerOf(logical.ReadOperation, "gateways/gw1/status", map[string]any{"index": itoa(target), "wait": "10s"})
	notYet(t, answer, "a has not applied the revocation")
	env.report("gw1", "a", target, nil)
	resp := receive(t, answer)
	require.Equal(t, true, resp.Data["enforced"])
	require.Equal(t, target, resp.Data["target_index"])

	// Judged against an older index, an instance that applied it is in sync.
	env.report("gw1", "a", before, nil)
	resp = env.ok(logical.ReadOperation, "gateways/gw1/status", map[string]any{"index": itoa(before)})
	require.Equal(t, true, resp.Data["enforced"])
	env.fails(logical.ReadOperation, "gateways/gw1/status", map[string]any{"index": itoa(target + 1)}, "index: "+itoa(target+1)+" is ahead of the gateway's revision "+itoa(target))
	env.fails(logical.ReadOperation, "gateways/gw1/status", map[string]any{"wait": "1m"}, "wait: must be between 0s and 30s")
}

func TestJudgeEnforcement(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	at := func(id string, ago time.Duration, applied uint64) statusEntry {
		return statusEntry{InstanceID: id, AppliedIndex: applied, UpdatedAt: now.Add(-ago)}
	}
	for name, tc := range map[string]struct {
		targets  map[string]uint64
		status   map[string][]statusEntry
		enforced bool
		applied  []string
		laggards int
		stale    int
	}{
		"nothing to enforce":     {map[string]uint64{}, nil, true, nil, 0, 0},
		"all applied":            {map[string]uint64{"g": 5}, map[string][]statusEntry{"g": {at("a", 0, 5), at("b", 0, 6)}}, true, []string{"g/a", "g/b"}, 0, 0},
		"one behind":             {map[string]uint64{"g": 5}, map[string][]statusEntry{"g": {at("a", 0, 5), at("b", 0, 4)}}, false, []string{"g/a"}, 1, 0},
		"behind but stale":       {map[string]uint64{"g": 5}, map[string][]statusEntry{"g": {at("a", 0, 5), at("b", time.Hour, 4)}}, true, []string{"g/a"}, 0, 1},
		"only stale":             {map[string]uint64{"g": 5}, map[string][]statusEntry{"g": {at("b", time.Hour, 5)}}, false, nil, 0, 1},
		"two gateways, one late": {map[string]uint64{"g": 5, "h": 9}, map[string][]statusEntry{"g": {at("a", 0, 5)}, "h": {at("c", 0, 8)}}, false, []string{"g/a"}, 1, 0},
		"no instance at all":     {map[string]uint64{"g": 5}, nil, false, nil, 0, 0},
	} {
		t.Run(name, func(t *testing.T) {
			e := judgeEnforcement(now, tc.targets, tc.status)
			require.Equal(t, tc.enforced, e.Enforced())
			require.Equal(t, tc.applied, e.Applied)
			require.Len(t, e.Laggards, tc.laggards)
			require.Len(t, e.Stale, tc.stale)
		})
	}
}

// A block takes confirm too: its answer waits, after the block is in
// place, until the instances applied the revocations; a confirm out of
// bounds is refused before anything is written.
func TestBlockConfirm(t *testing.T) {
	env := newTestEnv(t)
	serial := env.issue("alice").Data["serial_number"].(string)
	before := env.peers("0").Index
	env.report("gw1", "a", before, nil)
	env.fails(logical.CreateOperation, "blocks/stolen", map[string]any{"common_name": "alice", "confirm": "1m"}, "confirm: must be between 0s and 30s")
	require.Nil(t, env.ok(logical.ReadOperation, "blocks/stolen", nil), "a refused confirm writes no block")
	require.NotNil(t, env.b.reg.lookup(serial))

	answer := env.answerOf(logical.CreateOperation, "blocks/stolen", map[string]any{"common_name": "alice", "confirm": "10s"})
	after := env.peersWait(itoa(before), "1s").Index
	notYet(t, answer, "a has not applied the revocation")
	env.report("gw1", "a", after, nil)
	resp := receive(t, answer)
	require.Equal(t, []string{serial}, resp.Data["serial_numbers"])
	require.Equal(t, true, resp.Data["enforced"])
	require.Equal(t, []string{"gw1/a"}, resp.Data["instances"])
}

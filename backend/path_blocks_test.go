package backend

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"
	"github.com/stretchr/testify/require"
)

// refusedBlocked checks that an issue as who is refused with HTTP 403
// naming the block.
func (e *testEnv) refusedBlocked(who, block string) {
	e.t.Helper()
	resp, err := e.doAs(who, logical.UpdateOperation, "issue/laptop", map[string]any{"public_key": mustKey(e.t)})
	require.Error(e.t, err, "issue as %s: %v", who, resp)
	var coded logical.HTTPCodedError
	require.True(e.t, errors.As(err, &coded), "%T: %v", err, err)
	require.Equal(e.t, http.StatusForbidden, coded.Code())
	require.Contains(e.t, err.Error(), `is blocked by block "`+block+`"`)
	require.NotContains(e.t, err.Error(), "admin", "the refusal does not name who blocked")
}

// TestRevokeSelectors: revoke by entity_id, common_name or role revokes
// every live certificate that has it, and only those, and names them.
func TestRevokeSelectors(t *testing.T) {
	env := newTestEnv(t)
	env.ok(logical.UpdateOperation, "roles/kiosk", map[string]any{"gateway": "gw1"})
	alice1, alice2 := env.issue("alice"), env.issue("alice")
	bob := env.issue("bob")
	carol1 := env.issueAsEntity("e-carol", "carol", "laptop")
	carol2 := env.issueAsEntity("e-carol", "carol-phone", "laptop")
	kiosk, err := env.doAs("bob", logical.UpdateOperation, "issue/kiosk", map[string]any{"public_key": mustKey(t)})
	require.NoError(t, err)

	revoke := func(data map[string]any) []string {
		return env.ok(logical.UpdateOperation, "revoke", data).Data["serial_numbers"].([]string)
	}
	require.ElementsMatch(t, []string{serialOf(alice1), serialOf(alice2)}, revoke(map[string]any{"common_name": "alice"}))
	require.Empty(t, revoke(map[string]any{"common_name": "alice"}), "nothing live is left")
	require.ElementsMatch(t, []string{serialOf(carol1), serialOf(carol2)}, revoke(map[string]any{"entity_id": "e-carol"}))
	require.Equal(t, []string{serialOf(kiosk)}, revoke(map[string]any{"role": "kiosk"}))
	require.Empty(t, revoke(map[string]any{"role": "nobody"}))

	for _, r := range []*logical.Response{alice1, alice2, carol1, carol2, kiosk} {
		require.True(t, env.revoked(serialOf(r)), serialOf(r))
		require.True(t, env.crlSerials()[serialOf(r)])
	}
	require.False(t, env.revoked(serialOf(bob)))
	require.Equal(t, []string{serialOf(bob)}, env.feedSerials())
}

// TestBlockLifecycle: a block revokes the identity's live certificates,
// says who blocked and when (in the block and in each certificate's
// record), refuses the identity new ones with 403 naming the block across
// a reload, and once deleted lets it enrol again; others are untouched.
func TestBlockLifecycle(t *testing.T) {
	env := newTestEnv(t)
	alice1, alice2 := env.issue("alice"), env.issue("alice")
	bob := env.issue("bob")

	resp, err := env.doAs("admin", logical.CreateOperation, "blocks/stolen-laptop", map[string]any{"common_name": "alice", "reason": "laptop stolen"})
	require.NoError(t, err)
	require.False(t, resp.IsError(), "%v", resp.Error())
	require.ElementsMatch(t, []string{serialOf(alice1), serialOf(alice2)}, resp.Data["serial_numbers"])
	require.Equal(t, "admin", resp.Data["created_by"])
	require.NotEmpty(t, resp.Data["created_at"])

	rec := env.ok(logical.ReadOperation, "cert/"+serialOf(alice1), nil)
	require.Equal(t, true, rec.Data["revoked"])
	require.Equal(t, "admin", rec.Data["revoked_by"])
	require.Equal(t, "stolen-laptop", rec.Data["block"])
	require.Equal(t, resp.Data["created_at"], rec.Data["revoked_at"])
	require.Equal(t, []string{serialOf(bob)}, env.feedSerials())

	env.refusedBlocked("alice", "stolen-laptop")
	env.issue("bob")

	list := env.ok(logical.ListOperation, "blocks/", nil)
	require.Equal(t, []string{"stolen-laptop"}, list.Data["keys"])
	info := list.Data["key_info"].(map[string]any)["stolen-laptop"].(map[string]any)
	require.Equal(t, "alice", info["common_name"])
	require.Equal(t, "laptop stolen", info["reason"])

	// A new reason keeps the identity; another identity is refused.
	env.ok(logical.UpdateOperation, "blocks/stolen-laptop", map[string]any{"reason": "stolen, reported"})
	env.fails(logical.UpdateOperation, "blocks/stolen-laptop", map[string]any{"common_name": "bob"},
		`entity_id or common_name: block "stolen-laptop" covers common_name "alice"`)

	// Stored: a reload (plugin restart, leader change) keeps it.
	env.reload()
	env.refusedBlocked("alice", "stolen-laptop")
	read := env.ok(logical.ReadOperation, "blocks/stolen-laptop", nil)
	require.Equal(t, "stolen, reported", read.Data["reason"])
	require.Equal(t, "admin", read.Data["created_by"])

	// Issuing stays one storage write and no read with blocks in place.
	counting := &countingStorage{Storage: env.storage}
	env.storage = counting
	env.issue("bob")
	require.Equal(t, 1, counting.puts)
	require.Equal(t, 0, counting.gets)
	env.storage = counting.Storage

	env.ok(logical.DeleteOperation, "blocks/stolen-laptop", nil)
	require.Nil(t, env.ok(logical.ReadOperation, "blocks/stolen-laptop", nil))
	env.issue("alice")
	env.reload()
	env.issue("alice")
	require.Empty(t, env.ok(logical.ListOperation, "blocks/", nil).Data["keys"])
}

// TestBlockByEntity: a block by entity_id refuses the entity whatever its
// certificates' common names, and no one else.
func TestBlockByEntity(t *testing.T) {
	env := newTestEnv(t)
	carol := env.issueAsEntity("e-carol", "carol", "laptop")
	env.issue("carol") // a token named carol, another identity
	resp := env.ok(logical.CreateOperation, "blocks/carol", map[string]any{"entity_id": "e-carol"})
	require.Equal(t, []string{serialOf(carol)}, resp.Data["serial_numbers"])

	env.sys.EntityVal = &logical.Entity{ID: "e-carol", Name: "carol-renamed"}
	_, err := env.b.HandleRequest(t.Context(), &logical.Request{
		Operation: logical.UpdateOperation, Path: "issue/laptop", Storage: env.storage,
		EntityID: "e-carol", DisplayName: "approle", Data: map[string]any{"public_key": mustKey(t)},
	})
	require.ErrorContains(t, err, `entity_id "e-carol" is blocked by block "carol"`)
	env.sys.EntityVal = nil
	env.issue("carol")
}

func TestBlockBadInput(t *testing.T) {
	env := newTestEnv(t)
	const exactlyOne = "entity_id or common_name: give exactly one"
	env.fails(logical.CreateOperation, "blocks/b", map[string]any{}, exactlyOne)
	env.fails(logical.CreateOperation, "blocks/b", map[string]any{"entity_id": "e", "common_name": "c"}, exactlyOne)
	require.Empty(t, env.ok(logical.ListOperation, "blocks/", nil).Data["keys"], "nothing written")
}

// TestBlockDuringIssue: a block put while a certificate of its identity is
// being written (after the issue checked for blocks, before it committed)
// leaves no live certificate: the issue is refused with 403 and its record
// is revoked.
func TestBlockDuringIssue(t *testing.T) {
	env := newTestEnv(t)
	h := env.hooked()
	blocked := false
	h.setHook(func(key string) error {
		if strings.HasPrefix(key, certStoragePrefix) && !blocked {
			blocked = true
			resp, err := env.doAs("admin", logical.CreateOperation, "blocks/alice", map[string]any{"common_name": "alice"})
			require.NoError(t, err)
			require.Empty(t, resp.Data["serial_numbers"], "nothing committed yet")
		}
		return nil
	})
	_, err := env.doAs("alice", logical.UpdateOperation, "issue/laptop", map[string]any{"public_key": mustKey(t)})
	var coded logical.HTTPCodedError
	require.True(t, errors.As(err, &coded), "%v", err)
	require.Equal(t, http.StatusForbidden, coded.Code())
	h.setHook(nil)

	require.Empty(t, env.feedSerials())
	keys, info := env.findCerts(map[string]any{"common_name": "alice"})
	require.Len(t, keys, 1)
	require.Equal(t, true, info[keys[0]].(map[string]any)["revoked"])
	require.Equal(t, "alice", env.ok(logical.ReadOperation, "cert/"+keys[0], nil).Data["block"])
	env.reload()
	keys, _ = env.findCerts(map[string]any{"common_name": "alice", "live": true})
	require.Empty(t, keys)
}

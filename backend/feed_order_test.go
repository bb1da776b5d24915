package backend

import (
	"context"
	"slices"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"
	"github.com/stretchr/testify/require"
)

func recs(serials ...string) []*certRecord {
	out := make([]*certRecord, len(serials))
	for i, s := range serials {
		out[i] = &certRecord{SerialNumber: s}
	}
	return out
}

func serialsOf(rs []*certRecord) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.SerialNumber
	}
	return out
}

// mergeChanges applies changed serials to a sorted base: new ones inserted
// in order, removed ones dropped, others kept.
func TestMergeChanges(t *testing.T) {
	add := func(s string) orderChange { return orderChange{serial: s, rec: &certRecord{SerialNumber: s}} }
	del := func(s string) orderChange { return orderChange{serial: s} }
	for _, c := range []struct {
		name    string
		base    []string
		changed []orderChange
		want    []string
	}{
		{"nothing", []string{"02", "04"}, nil, []string{"02", "04"}},
		{"into empty", nil, []orderChange{add("03"), add("01")}, []string{"01", "03"}},
		{"first, middle, last", []string{"02", "04"}, []orderChange{add("05"), add("01"), add("03")}, []string{"01", "02", "03", "04", "05"}},
		{"removed", []string{"01", "02", "03"}, []orderChange{del("01"), del("03")}, []string{"02"}},
		{"removed every one", []string{"01", "02"}, []orderChange{del("02"), del("01")}, []string{}},
		{"added and gone since", []string{"02"}, []orderChange{del("01"), del("09")}, []string{"02"}},
		{"mixed", []string{"0a", "0c", "0e"}, []orderChange{del("0c"), add("0d"), add("0b"), del("0e")}, []string{"0a", "0b", "0d"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			require.Equal(t, c.want, serialsOf(mergeChanges(recs(c.base...), c.changed)))
		})
	}
}

// page cuts after the cursor, at most limit, naming the last serial when
// more remain.
func TestPeerOrderPage(t *testing.T) {
	o := &peerOrder{recs: recs("01", "03", "05", "07")}
	for _, c := range []struct {
		after    string
		limit    int
		want     []string
		wantNext string
	}{
		{"", 0, []string{"01", "03", "05", "07"}, ""},
		{"", 2, []string{"01", "03"}, "03"},
		{"03", 2, []string{"05", "07"}, ""},
		{"04", 1, []string{"05"}, "05"},
		{"00", 4, []string{"01", "03", "05", "07"}, ""},
		{"07", 2, []string{}, ""},
		{"09", 0, []string{}, ""},
	} {
		got, next := o.page(c.after, c.limit)
		require.Equal(t, c.want, serialsOf(got), "after %q limit %d", c.after, c.limit)
		require.Equal(t, c.wantNext, next, "after %q limit %d", c.after, c.limit)
	}
}

// The peer order of a revision is built once and shared: a second page of
// the same revision cuts from the same order. After changes it is built
// again from the kept order and the changes since (a merge), and it is
// then the live set in serial order.
func TestPeerOrderSharedThenMerged(t *testing.T) {
	env := newTestEnv(t)
	leases := []*logical.Response{}
	for range 10 {
		leases = append(leases, env.issue("alice"))
	}
	first := env.b.reg.poll(context.Background(), "gw1", 0, 0)
	again := env.b.reg.poll(context.Background(), "gw1", 0, 0)
	require.Same(t, first.order, again.order, "a second read of one revision built its order again")

	env.revokeLease(leases[3])
	env.issue("bob")
	env.issue("bob")
	env.b.reg.mu.Lock()
	plan := env.b.reg.feed("gw1").planOrder()
	env.b.reg.mu.Unlock()
	require.Same(t, first.order, plan.base, "the next order is not merged from the kept one")
	require.Len(t, plan.changed, 3)
	require.Nil(t, plan.all)

	next := env.b.reg.poll(context.Background(), "gw1", 0, 0)
	require.NotSame(t, first.order, next.order)
	want := make([]string, 0, 11)
	for s := range env.livePeers() {
		want = append(want, s)
	}
	slices.Sort(want)
	require.Equal(t, want, serialsOf(next.order.recs))
	require.Len(t, serialsOf(first.order.recs), 10, "the order a reader holds changed under it")
}

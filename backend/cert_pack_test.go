package backend

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
	"github.com/stretchr/testify/require"
)

// keys lists the storage keys under prefix.
func (e *testEnv) keys(prefix string) []string {
	e.t.Helper()
	keys, err := e.storage.List(context.Background(), prefix)
	require.NoError(e.t, err)
	return keys
}

// foldPacks runs a pack fold as the periodic function does, under tidyMu.
func (e *testEnv) foldPacks() (int, error) {
	e.b.tidyMu.Lock()
	defer e.b.tidyMu.Unlock()
	return e.b.foldPacks(context.Background(), e.storage)
}

// packedSerials is every serial in a pack, once per copy.
func (e *testEnv) packedSerials() []string {
	e.t.Helper()
	var out []string
	for _, id := range e.keys(certPackStoragePrefix) {
		p, err := getPack(context.Background(), e.storage, id)
		require.NoError(e.t, err)
		require.NotNil(e.t, p, id)
		for _, rec := range p.Records {
			out = append(out, rec.SerialNumber)
		}
	}
	slices.Sort(out)
	return out
}

// certViews is what cert/:serial says of each serial.
func (e *testEnv) certViews(serials []string) map[string]map[string]any {
	e.t.Helper()
	out := map[string]map[string]any{}
	for _, s := range serials {
		resp := e.ok(logical.ReadOperation, "cert/"+s, nil)
		require.NotNil(e.t, resp, "cert/%s", s)
		out[s] = resp.Data
	}
	return out
}

// TestPackFoldKeepsState: a pack fold writes the live and revoked records
// into packs and deletes nothing: their loose entries stay, and a mount
// started over that storage reads none of them. It has the same
// certificates, peer set, CRL and cert/ answers as before, and keeps the
// live addresses taken.
func TestPackFoldKeepsState(t *testing.T) {
	env := newTestEnv(t)
	c := &storageCounter{Storage: env.storage}
	env.storage = c
	var serials, live []string
	for i := range 12 {
		resp := env.issue(fmt.Sprintf("user%d", i%3))
		s := resp.Data["serial_number"].(string)
		serials = append(serials, s)
		if i%4 == 0 {
			env.revokeLease(resp)
		} else {
			live = append(live, s)
		}
	}
	before := env.certViews(serials)
	feed := env.feedSerials()
	crl := env.crlSerials()

	n, err := env.foldPacks()
	require.NoError(t, err)
	require.Equal(t, len(serials), n)
	all := slices.Sorted(slices.Values(serials))
	require.Equal(t, all, env.packedSerials(), "live and revoked")
	require.Zero(t, c.count("delete", certStoragePrefix), "a fold deletes no loose entry")
	require.Equal(t, all, env.keys(certStoragePrefix), "loose entries stay until tidy")
	require.Equal(t, before, env.certViews(serials), "cert/ reads packed records")

	c.reset()
	env.reload()
	require.ElementsMatch(t, feed, env.feedSerials())
	require.Zero(t, c.count("get", certStoragePrefix), "a load reads no loose entry an authoritative pack covers")
	require.Equal(t, crl, env.crlSerials())
	require.Equal(t, before, env.certViews(serials))
	for range 5 {
		resp := env.issue("another")
		for _, s := range live {
			require.NotEqual(t, before[s]["addresses"], resp.Data["addresses"], "a packed live address is given again")
		}
	}

	n, err = env.foldPacks()
	require.NoError(t, err)
	require.Equal(t, 5, n, "a second fold packs the new ones only")
	require.Len(t, env.packedSerials(), len(serials)+5)
}

// storageCounter counts the reads and deletes of storage keys.
type storageCounter struct {
	logical.Storage
	mu   sync.Mutex
	keys map[string][]string // by operation
}

func (c *storageCounter) Get(ctx context.Context, key string) (*logical.StorageEntry, error) {
	c.note("get", key)
	return c.Storage.Get(ctx, key)
}

func (c *storageCounter) Delete(ctx context.Context, key string) error {
	c.note("delete", key)
	return c.Storage.Delete(ctx, key)
}

func (c *storageCounter) note(op, key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.keys == nil {
		c.keys = make(map[string][]string)
	}
	c.keys[op] = append(c.keys[op], key)
}

// count is how many times op reached a key under prefix.
func (c *storageCounter) count(op, prefix string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, k := range c.keys[op] {
		if strings.HasPrefix(k, prefix) {
			n++
		}
	}
	return n
}

func (c *storageCounter) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.keys = nil
}

// revokeAtPackWrite revokes lease alone as the first pack is written,
// before its write goes on, then fails that write with fail (nil: none).
func (e *testEnv) revokeAtPackWrite(lease *logical.Response, fail error) {
	h := e.hooked()
	h.setHook(func(key string) error {
		if !strings.HasPrefix(key, certPackStoragePrefix) {
			return nil
		}
		h.setHook(nil)
		e.revokeLease(lease)
		return fail
	})
}

// TestRevocationWhileRecordsArePacked: a certificate revoked alone while a
// fold writes the pack that takes its record live has its revocation
// journaled, not written loose: a load, which does not read the loose
// entries of an authoritative pack's records, still finds it revoked; so
// does one after the journal is folded into the pack.
func TestRevocationWhileRecordsArePacked(t *testing.T) {
	env := newTestEnv(t)
	victim := env.issue("alice")
	serial := victim.Data["serial_number"].(string)
	keep := env.issue("bob")
	env.revokeAtPackWrite(victim, nil)
	n, err := env.foldPacks()
	require.NoError(t, err)
	require.Equal(t, 2, n)
	require.Len(t, env.journalKeys(), 1, "the revocation is journaled")

	env.reload()
	env.requireRevokedEverywhere([]string{serial})
	require.NoError(t, env.b.periodic(context.Background(), &logical.Request{Storage: env.storage}))
	require.Empty(t, env.journalKeys(), "the journal is folded")
	env.reload()
	env.requireRevokedEverywhere([]string{serial})
	require.Equal(t, []string{keep.Data["serial_number"].(string)}, env.feedSerials())
}

// TestPackFoldCutShort: a fold whose pack write fails packs nothing; a
// certificate revoked meanwhile stays revoked (its revocation was
// journaled), and the next fold packs every record once, that one revoked.
func TestPackFoldCutShort(t *testing.T) {
	env := newTestEnv(t)
	var serials []string
	for range 6 {
		serials = append(serials, env.issue("alice").Data["serial_number"].(string))
	}
	victim := env.issue("bob")
	serials = append(serials, victim.Data["serial_number"].(string))
	env.revokeAtPackWrite(victim, errInjected)
	_, err := env.foldPacks()
	require.ErrorIs(t, err, errInjected)
	require.Empty(t, env.keys(certPackStoragePrefix))
	require.NoError(t, env.b.periodic(context.Background(), &logical.Request{Storage: env.storage}))
	require.Empty(t, env.journalKeys(), "the journal is folded")
	revoked := []string{victim.Data["serial_number"].(string)}
	env.requireRevokedEverywhere(revoked)
	env.reload()
	env.requireRevokedEverywhere(revoked)

	n, err := env.foldPacks()
	require.NoError(t, err)
	require.Zero(t, n, "the periodic function packed them all")
	require.Equal(t, slices.Sorted(slices.Values(serials)), env.packedSerials(), "each record once")
	env.reload()
	require.ElementsMatch(t, serials[:6], env.feedSerials())
	env.requireRevokedEverywhere(revoked)
}

// TestPackedRevocationSurvives: a packed certificate revoked alone, or with
// others in one journal entry, stays revoked after a restart, after the
// journal is folded by a process that did not journal it (it reads the
// packs), and after a restart again.
func TestPackedRevocationSurvives(t *testing.T) {
	env := newTestEnv(t)
	lone := env.issue("alice")
	leases := env.issueApart(8)
	keep := env.issue("bob")
	_, err := env.foldPacks()
	require.NoError(t, err)

	env.revokeLease(lone)
	require.Len(t, env.journalKeys(), 1, "a packed record's revocation alone is journaled")
	rec, err := getRecord(context.Background(), env.storage, lone.Data["serial_number"].(string))
	require.NoError(t, err)
	require.False(t, rec.revoked(), "its loose entry is left as it was")
	h := env.hooked()
	for i, err := range env.revokeTogether(h, leases, nil) {
		require.NoError(t, err, "revocation %d", i)
	}
	require.Len(t, env.journalKeys(), 3, "lone's; the first of the others', written alone; the rest's")
	revoked := append(leaseSerials(leases), lone.Data["serial_number"].(string))
	env.requireRevokedEverywhere(revoked)

	env.reload()
	env.requireRevokedEverywhere(revoked)
	require.NoError(t, env.b.periodic(context.Background(), &logical.Request{Storage: env.storage}))
	require.Empty(t, env.journalKeys(), "the journal is folded")

	env.reload()
	env.requireRevokedEverywhere(revoked)
	require.Equal(t, []string{keep.Data["serial_number"].(string)}, env.feedSerials())
}

// TestRevocationDuringPackFold: revocations while a fold packs and
// deletes are never lost: a record revoked after it was packed keeps its
// loose, revoked entry.
func TestRevocationDuringPackFold(t *testing.T) {
	env := newTestEnv(t)
	for round := range 15 {
		var leases []*logical.Response
		for range 10 {
			leases = append(leases, env.issue(fmt.Sprintf("r%d", round)))
		}
		var wg sync.WaitGroup
		errs := make(chan error, 1)
		wg.Go(func() {
			_, err := env.foldPacks()
			errs <- err
		})
		for i, l := range leases {
			if i%2 == 0 {
				wg.Go(func() { env.revokeLease(l) })
			}
		}
		wg.Wait()
		require.NoError(t, <-errs)
		var revoked []string
		for i, l := range leases {
			if i%2 == 0 {
				revoked = append(revoked, l.Data["serial_number"].(string))
			}
		}
		env.reload()
		env.requireRevokedEverywhere(revoked)
	}
}

// TestTidyTakesExpiredRecordsOutOfPacks: tidy deletes an expired packed
// record from its pack (and the pack once empty), so that no later load
// brings it back.
func TestTidyTakesExpiredRecordsOutOfPacks(t *testing.T) {
	env := newTestEnv(t)
	short := env.ok(logical.UpdateOperation, "issue/laptop", map[string]any{"public_key": mustKey(t), "ttl": "1h"})
	long := env.ok(logical.UpdateOperation, "issue/laptop", map[string]any{"public_key": mustKey(t), "ttl": "20h"})
	gone := env.ok(logical.UpdateOperation, "issue/laptop", map[string]any{"public_key": mustKey(t), "ttl": "1h"})
	_, err := env.foldPacks()
	require.NoError(t, err)
	env.revokeLease(gone) // revoked after it was packed: a loose copy too

	env.b.clock.set(func() time.Time { return time.Now().Add(10 * time.Hour) })
	resp := env.ok(logical.UpdateOperation, "tidy", map[string]any{"safety_buffer": "1h"})
	require.Equal(t, 2, resp.Data["deleted"])
	require.Equal(t, []string{long.Data["serial_number"].(string)}, env.packedSerials())

	env.reload()
	for _, r := range []*logical.Response{short, gone} {
		require.Nil(t, env.ok(logical.ReadOperation, "cert/"+r.Data["serial_number"].(string), nil))
		require.False(t, env.b.reg.known(r.Data["serial_number"].(string)))
	}
	require.Equal(t, []string{long.Data["serial_number"].(string)}, env.feedSerials())

	env.b.clock.set(func() time.Time { return time.Now().Add(30 * time.Hour) })
	env.ok(logical.UpdateOperation, "tidy", map[string]any{"safety_buffer": "1h"})
	require.Empty(t, env.keys(certPackStoragePrefix), "an emptied pack is deleted")
}

// TestPacksStayWithinTheirBudget: records of any size go into packs of at
// most the budget, in order, each once, and read back as they were; one
// that fits no pack by itself is left out.
func TestPacksStayWithinTheirBudget(t *testing.T) {
	const budget = 4096
	var recs []*certRecord
	for i := range 200 {
		recs = append(recs, &certRecord{
			SerialNumber: fmt.Sprintf("%02x", i+1),
			Certificate:  make([]byte, (i*37)%1500),
			CommonName:   strings.Repeat("n", i%50),
			Addresses:    []string{"10.77.0.2/32"},
		})
	}
	huge := &certRecord{SerialNumber: "ff:ff", Certificate: make([]byte, budget)}
	recs = append(recs[:100], append([]*certRecord{huge}, recs[100:]...)...)
	packs := packsOf(t, recs, budget)
	var got []*certRecord
	for _, p := range packs {
		require.LessOrEqual(t, len(p.value), budget)
		var cp certPack
		require.NoError(t, json.Unmarshal(p.value, &cp))
		var serials []string
		for _, r := range cp.Records {
			serials = append(serials, r.SerialNumber)
		}
		require.Equal(t, p.serials, serials)
		got = append(got, cp.Records...)
	}
	want := slices.DeleteFunc(slices.Clone(recs), func(r *certRecord) bool { return r == huge })
	require.Len(t, got, len(want))
	for i := range want {
		require.Equal(t, want[i].SerialNumber, got[i].SerialNumber)
		require.Len(t, got[i].Certificate, len(want[i].Certificate))
	}
	require.Greater(t, len(packs), 20, "packs are cut at the budget")

	// Records of one size, with a budget one byte short of 5 of them.
	same := make([]*certRecord, 20)
	for i := range same {
		same[i] = &certRecord{SerialNumber: fmt.Sprintf("%02x", i+1), Certificate: make([]byte, 300)}
	}
	one, err := json.Marshal(same[0])
	require.NoError(t, err)
	five := len(packOpen) + 5*len(one) + 4 + len(packClose)
	packs = packsOf(t, same, five-1)
	require.Equal(t, 5, len(packs))
	for _, p := range packs {
		require.Len(t, p.serials, 4)
		require.LessOrEqual(t, len(p.value), five-1)
	}
	packs = packsOf(t, same, five)
	require.Equal(t, 4, len(packs))
	require.Equal(t, five, len(packs[0].value))
}

// TestInvalidatePackReloads: a pack written by another node (Vault tells
// a standby through Invalidate) is in the registry at its next read.
func TestInvalidatePackReloads(t *testing.T) {
	env := newTestEnv(t)
	other := env.issue("alice")
	serial := other.Data["serial_number"].(string)
	_, err := env.foldPacks()
	require.NoError(t, err)
	ids := env.keys(certPackStoragePrefix)
	require.Len(t, ids, 1)
	// Another node's view: the same storage without the pack (nor the
	// loose entry, not replicated yet), loaded.
	p, err := env.storage.Get(context.Background(), certPackStoragePrefix+ids[0])
	require.NoError(t, err)
	require.NoError(t, env.storage.Delete(context.Background(), certPackStoragePrefix+ids[0]))
	require.NoError(t, env.storage.Delete(context.Background(), certStoragePrefix+serial))
	env.reload()
	require.Empty(t, env.feedSerials())
	require.NoError(t, env.storage.Put(context.Background(), p))
	env.b.invalidate(context.Background(), certPackStoragePrefix+ids[0])
	require.Equal(t, []string{serial}, env.feedSerials())
}

// TestIssuesStartAPackFold: enough issues start a pack fold in the
// background, without waiting for the periodic function.
func TestIssuesStartAPackFold(t *testing.T) {
	env := newTestEnv(t)
	env.b.packAfter = 5
	for range 6 {
		env.issue("alice")
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(env.packedSerials()) < 5 || env.b.packing.Load() {
		require.True(t, time.Now().Before(deadline), "records packed: %d", len(env.packedSerials()))
		time.Sleep(5 * time.Millisecond)
	}
}

// TestPackWrittenBeforeLooseEntriesWereKept: storage as a version that
// deleted loose entries once packed left it (an upgrade): a pack that is
// not authoritative, and a revocation written loose after it packed the
// record live. A load reads that loose entry and takes the revoked copy;
// the next fold writes the revocation into the pack and deletes the loose
// entries, as that version did; the certificate stays revoked.
func TestPackWrittenBeforeLooseEntriesWereKept(t *testing.T) {
	env := newTestEnv(t)
	ctx := context.Background()
	var serials []string
	var recs []*certRecord
	for range 4 {
		serial := env.issue("alice").Data["serial_number"].(string)
		rec, err := getRecord(ctx, env.storage, serial)
		require.NoError(t, err)
		serials, recs = append(serials, serial), append(recs, rec)
	}
	buf, err := json.Marshal(map[string]any{"records": recs})
	require.NoError(t, err)
	require.NoError(t, env.storage.Put(ctx, &logical.StorageEntry{Key: certPackStoragePrefix + "old", Value: buf}))
	for _, serial := range serials[1:] {
		require.NoError(t, env.storage.Delete(ctx, certStoragePrefix+serial))
	}
	revoked := *recs[0]
	revoked.RevokedAt = env.b.now()
	require.NoError(t, putJSON(ctx, env.storage, certStoragePrefix+revoked.SerialNumber, &revoked))

	env.reload()
	env.requireRevokedEverywhere(serials[:1])
	require.ElementsMatch(t, serials[1:], env.feedSerials())
	n, err := env.foldPacks()
	require.NoError(t, err)
	require.Zero(t, n, "nothing packed again")
	require.Empty(t, env.keys(certStoragePrefix), "the loose entry is deleted once the pack says it")
	p, err := getPack(ctx, env.storage, "old")
	require.NoError(t, err)
	require.True(t, p.find(serials[0]).revoked(), "the revocation is in the pack")
	env.reload()
	env.requireRevokedEverywhere(serials[:1])
}

// TestUnpackForDowngrade: tidy with unpack=true writes every packed record
// back to its own entry, as a version without packs reads them (revoked
// ones revoked), deletes the packs, and the mount packs no more.
func TestUnpackForDowngrade(t *testing.T) {
	env := newTestEnv(t)
	var serials []string
	for range 8 {
		serials = append(serials, env.issue("alice").Data["serial_number"].(string))
	}
	leases := env.issueApart(4)
	serials = append(serials, leaseSerials(leases)...)
	_, err := env.foldPacks()
	require.NoError(t, err)
	lone := env.issue("bob") // loose, revoked after it was packed
	serials = append(serials, lone.Data["serial_number"].(string))
	_, err = env.foldPacks()
	require.NoError(t, err)
	env.revokeLease(lone)
	h := env.hooked()
	for i, err := range env.revokeTogether(h, leases, nil) {
		require.NoError(t, err, "revocation %d", i)
	}
	revoked := append(leaseSerials(leases), lone.Data["serial_number"].(string))
	before := env.certViews(serials)

	resp := env.ok(logical.UpdateOperation, "tidy", map[string]any{"unpack": true})
	require.Positive(t, resp.Data["unpacked"])
	require.Empty(t, env.keys(certPackStoragePrefix))
	require.Empty(t, env.journalKeys())
	require.Subset(t, env.keys(certStoragePrefix), serials, "issueApart may leave others, revoked")
	for _, s := range serials {
		rec, err := getRecord(context.Background(), env.storage, s)
		require.NoError(t, err)
		require.Equal(t, slices.Contains(revoked, s), rec.revoked(), "loose record of %s", s)
	}
	require.Equal(t, before, env.certViews(serials))
	env.issue("carol")
	require.NoError(t, env.b.periodic(context.Background(), &logical.Request{Storage: env.storage}))
	require.Empty(t, env.keys(certPackStoragePrefix), "packed again")
}

// packsOf is every pack eachPack encodes recs into.
func packsOf(t *testing.T, recs []*certRecord, budget int) []encodedPack {
	t.Helper()
	var out []encodedPack
	require.NoError(t, eachPack(recs, budget, func(p encodedPack) error {
		out = append(out, p)
		return nil
	}))
	return out
}

// TestTidyShedsLooseCopies: tidy packs the loose records and deletes the
// loose copies of packed ones, never a record no pack holds; the mount
// then loads the same state from the packs, and a packed certificate
// revoked after that stays revoked.
func TestTidyShedsLooseCopies(t *testing.T) {
	env := newTestEnv(t)
	var serials []string
	for range 6 {
		serials = append(serials, env.issue("alice").Data["serial_number"].(string))
	}
	gone := env.issue("bob")
	env.revokeLease(gone)
	serials = append(serials, gone.Data["serial_number"].(string))
	env.ok(logical.UpdateOperation, "tidy", nil)
	require.Empty(t, env.keys(certStoragePrefix), "loose copies of packed records left")
	require.Equal(t, slices.Sorted(slices.Values(serials)), env.packedSerials())

	fresh := env.issue("carol")
	serials = append(serials, fresh.Data["serial_number"].(string))
	env.b.tidyMu.Lock()
	shed, err := env.b.shedLoose(context.Background(), env.storage)
	env.b.tidyMu.Unlock()
	require.NoError(t, err)
	require.Zero(t, shed, "a record no pack holds keeps its loose entry")
	require.Equal(t, []string{fresh.Data["serial_number"].(string)}, env.keys(certStoragePrefix))

	before, feed, crl := env.certViews(serials), env.feedSerials(), env.crlSerials()
	env.reload()
	require.Equal(t, before, env.certViews(serials))
	require.ElementsMatch(t, feed, env.feedSerials())
	require.Equal(t, crl, env.crlSerials())

	victim := serials[0]
	env.ok(logical.UpdateOperation, "revoke", map[string]any{"serial_number": victim})
	env.reload()
	env.requireRevokedEverywhere([]string{victim, gone.Data["serial_number"].(string)})
}

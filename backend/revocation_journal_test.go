package backend

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/helper/locksutil"
	"github.com/hashicorp/vault/sdk/logical"
	"github.com/stretchr/testify/require"
)

// issueApart issues n certificates whose serials take different locks of
// b.locks, so that revoking them together makes none wait for another's
// lock: they all reach the batcher at once. Those it issues on the way
// are revoked again.
func (e *testEnv) issueApart(n int) []*logical.Response {
	e.t.Helper()
	var out []*logical.Response
	taken := map[uint8]bool{}
	for tries := 0; len(out) < n; tries++ {
		require.Less(e.t, tries, 20*n, "serials taking distinct locks")
		resp := e.issue("alice")
		i := locksutil.LockIndexForKey(resp.Data["serial_number"].(string))
		if taken[i] {
			e.revokeLease(resp)
			continue
		}
		taken[i] = true
		out = append(out, resp)
	}
	return out
}

// waiting is how many revocations wait in the open batch.
func (q *revocationBatcher) waiting() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.open == nil {
		return 0
	}
	return len(q.open.revoked)
}

// revokeTogether revokes the leases' leases at once, as Vault's expiration
// workers do in a mass revocation, and returns each one's error. The first
// revocation's write is held until all the others wait in the batch
// behind it, so that they share one write whatever the scheduling; fail,
// when set, then decides the fate of every write.
func (e *testEnv) revokeTogether(h *hookStorage, leases []*logical.Response, fail func(key string) error) []error {
	e.t.Helper()
	var first sync.Once
	h.setHook(func(key string) error {
		held := false
		first.Do(func() { held = true })
		if held {
			deadline := time.Now().Add(10 * time.Second)
			for e.b.revocations.waiting() < len(leases)-1 {
				if time.Now().After(deadline) {
					return fmt.Errorf("only %d revocations joined the batch", e.b.revocations.waiting())
				}
				time.Sleep(time.Millisecond)
			}
		}
		if fail != nil {
			return fail(key)
		}
		return nil
	})
	defer h.setHook(nil)
	errs := make([]error, len(leases))
	var wg sync.WaitGroup
	for i, l := range leases {
		wg.Go(func() {
			_, errs[i] = e.b.HandleRequest(context.Background(), &logical.Request{
				Operation: logical.RevokeOperation, Storage: e.storage, Secret: l.Secret,
			})
		})
	}
	wg.Wait()
	return errs
}

// storedRevoked reports whether serial's record in storage (loose, else
// packed) says revoked.
func (e *testEnv) storedRevoked(serial string) bool {
	e.t.Helper()
	rec, err := e.b.storedRecord(context.Background(), e.storage, serial)
	require.NoError(e.t, err)
	require.NotNil(e.t, rec, serial)
	return rec.revoked()
}

// journalKeys lists the revocation journal's entries.
func (e *testEnv) journalKeys() []string {
	e.t.Helper()
	keys, err := e.storage.List(context.Background(), revocationStoragePrefix)
	require.NoError(e.t, err)
	return keys
}

// countingPuts counts the writes under each prefix in h's hook.
type countingPuts struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *countingPuts) count(key string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	prefix, _, _ := strings.Cut(key, "/")
	c.n[prefix+"/"]++
	return nil
}

func (c *countingPuts) of(prefix string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[prefix]
}

// requireRevokedEverywhere checks that each serial is revoked as users see
// it: cert/ says so, it is on the CRL, and it is out of the peer set.
func (e *testEnv) requireRevokedEverywhere(serials []string) {
	e.t.Helper()
	crl := e.crlSerials()
	live := map[string]bool{}
	for _, s := range e.feedSerials() {
		live[s] = true
	}
	for _, s := range serials {
		data := e.ok(logical.ReadOperation, "cert/"+s, nil).Data
		require.Equal(e.t, true, data["revoked"], "cert/%s revoked", s)
		require.NotEmpty(e.t, data["revoked_at"], "cert/%s revoked_at", s)
		require.True(e.t, crl[s], "%s on the CRL", s)
		require.False(e.t, live[s], "%s out of the peer set", s)
	}
}

func leaseSerials(leases []*logical.Response) []string {
	var out []string
	for _, l := range leases {
		out = append(out, l.Data["serial_number"].(string))
	}
	return out
}

// TestConcurrentRevocationsShareOneWrite: revocations that arrive together
// are persisted by one storage write, a journal entry, and every one of
// them is revoked, also after the mount restarts over the same storage and
// on another node of the cluster that is told of the write.
func TestConcurrentRevocationsShareOneWrite(t *testing.T) {
	env := newTestEnv(t)
	other := env.otherNode()
	leases := env.issueApart(30)
	kept := env.issue("alice").Data["serial_number"].(string)
	serials := leaseSerials(leases)
	require.Len(t, other.feedSerials(), 31, "the other node has loaded")

	h := env.hooked()
	var puts countingPuts
	for i, err := range env.revokeTogether(h, leases, puts.count) {
		require.NoError(t, err, "revocation %d", i)
	}
	// The first alone, as its record; the 29 behind it as one entry.
	require.Equal(t, 1, puts.of(certStoragePrefix), "record writes")
	require.Equal(t, 1, puts.of(revocationStoragePrefix), "journal writes")
	require.Len(t, env.journalKeys(), 1)

	env.requireRevokedEverywhere(serials)
	require.Equal(t, []string{kept}, env.feedSerials())

	for _, key := range env.journalKeys() {
		other.b.invalidate(context.Background(), revocationStoragePrefix+key)
	}
	other.requireRevokedEverywhere(serials)
	require.Equal(t, []string{kept}, other.feedSerials())

	env.reload()
	env.requireRevokedEverywhere(serials)
	require.Equal(t, []string{kept}, env.feedSerials())
	env.revokeLease(leases[3]) // again: nothing left to do
}

// TestFailedBatchWriteFailsEveryRevocation: when the write of a batch
// fails, every revocation in it fails (Vault retries them), nothing of it
// is stored and every certificate stays live; the retries then succeed.
func TestFailedBatchWriteFailsEveryRevocation(t *testing.T) {
	env := newTestEnv(t)
	leases := env.issueApart(12)
	serials := leaseSerials(leases)
	h := env.hooked()
	failJournal := func(key string) error {
		if strings.HasPrefix(key, revocationStoragePrefix) {
			return errInjected
		}
		return nil
	}
	errs := env.revokeTogether(h, leases, failJournal)
	failed := 0
	for _, err := range errs {
		if err != nil {
			require.ErrorIs(t, err, errInjected)
			failed++
		}
	}
	require.Equal(t, len(leases)-1, failed, "the batch behind the first write failed whole")
	require.Empty(t, env.journalKeys(), "nothing half-written")
	live := map[string]bool{}
	for _, s := range env.feedSerials() {
		live[s] = true
	}
	crl := env.crlSerials()
	for i, s := range serials {
		if errs[i] == nil {
			continue
		}
		require.False(t, env.storedRevoked(s), "%s not stored revoked", s)
		require.False(t, env.revoked(s), "cert/%s not revoked", s)
		require.True(t, live[s], "%s still in the peer set", s)
		require.False(t, crl[s], "%s not on the CRL", s)
	}

	var retried []*logical.Response
	for i, err := range errs {
		if err != nil {
			retried = append(retried, leases[i])
		}
	}
	for i, err := range env.revokeTogether(h, retried, nil) {
		require.NoError(t, err, "retry %d", i)
	}
	require.Len(t, env.journalKeys(), 1)
	env.requireRevokedEverywhere(serials)
	env.reload()
	env.requireRevokedEverywhere(serials)
}

// TestTidyFoldsTheJournal: tidy writes the journal's revocations into the
// records and deletes the entry; a fold cut short by a failing write leaves
// the entry, the mount restarted then still sees every revocation, and the
// next tidy finishes the fold. The records are loose, as packing off leaves
// them (a tidy with unpack; otherwise tidy packs them first, revoked).
func TestTidyFoldsTheJournal(t *testing.T) {
	env := newTestEnv(t)
	env.b.packingOff.Store(true)
	leases := env.issueApart(10)
	serials := leaseSerials(leases)
	h := env.hooked()
	for i, err := range env.revokeTogether(h, leases, nil) {
		require.NoError(t, err, "revocation %d", i)
	}
	require.Len(t, env.journalKeys(), 1)
	stored := 0
	for _, s := range serials {
		if env.storedRevoked(s) {
			stored++
		}
	}
	require.Equal(t, 1, stored, "only the first record written revoked; the journal says the rest")

	// A tidy that fails after a few of the records.
	var writes atomic.Int64
	h.setHook(func(key string) error {
		if strings.HasPrefix(key, certStoragePrefix) && writes.Add(1) > 3 {
			return errInjected
		}
		return nil
	})
	_, err := env.do(logical.UpdateOperation, "tidy", nil)
	require.ErrorIs(t, err, errInjected)
	require.Len(t, env.journalKeys(), 1, "the entry stays until it is folded whole")
	h.setHook(nil)

	env.reload()
	env.requireRevokedEverywhere(serials)

	env.ok(logical.UpdateOperation, "tidy", nil)
	require.Empty(t, env.journalKeys())
	for _, s := range serials {
		require.True(t, env.storedRevoked(s), "record of %s written revoked", s)
	}
	env.reload()
	env.requireRevokedEverywhere(serials)
}

// TestFoldLeavesDeletedRecordsDeleted: a journaled revocation whose
// record was deleted already (by a tidy cut short before it deleted the
// entry, then a restart) is not written back.
func TestFoldLeavesDeletedRecordsDeleted(t *testing.T) {
	env := newTestEnv(t)
	leases := env.issueApart(4)
	h := env.hooked()
	for i, err := range env.revokeTogether(h, leases, nil) {
		require.NoError(t, err, "revocation %d", i)
	}
	gone := leases[2].Data["serial_number"].(string)
	require.NoError(t, env.storage.Delete(context.Background(), certStoragePrefix+gone))
	env.reload()
	env.ok(logical.UpdateOperation, "tidy", nil)
	rec, err := getRecord(context.Background(), env.storage, gone)
	require.NoError(t, err)
	require.Nil(t, rec)
	require.Empty(t, env.journalKeys())
}

// TestRevocationBatcherWritesOneAtATime: whatever the interleaving, at
// most one batch is being written, none holds more than the batcher's
// most, every revocation is in exactly one written batch, and each caller
// gets its batch's outcome.
func TestRevocationBatcherWritesOneAtATime(t *testing.T) {
	const most = 16
	q := newRevocationBatcher(most)
	largest := 0
	var mu sync.Mutex
	inFlight, maxInFlight := 0, 0
	written := map[string]int{}
	failing := errors.New("batch failed")
	outcome := map[string]error{}
	write := func(_ context.Context, batch []*certRecord) error {
		mu.Lock()
		inFlight++
		maxInFlight = max(maxInFlight, inFlight)
		largest = max(largest, len(batch))
		var err error
		if len(written)%3 == 1 {
			err = failing
		}
		for _, r := range batch {
			written[r.SerialNumber]++
			outcome[r.SerialNumber] = err
		}
		mu.Unlock()
		for range 50 { // a storage write, during which others arrive
			runtime.Gosched()
		}
		mu.Lock()
		inFlight--
		mu.Unlock()
		return err
	}
	const n = 500
	got := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			got[i] = q.persist(context.Background(), &certRecord{SerialNumber: fmt.Sprint(i)}, write)
		})
	}
	wg.Wait()
	require.Equal(t, 1, maxInFlight)
	require.LessOrEqual(t, largest, most)
	require.Greater(t, largest, 1, "revocations shared writes")
	require.Len(t, written, n)
	for i := range n {
		s := fmt.Sprint(i)
		require.Equal(t, 1, written[s], s)
		require.Equal(t, outcome[s], got[i], s)
	}
}

// TestJournalCarriesTheRevocation: what a revocation changes in a record
// (when, and who revoked it by a block, or which certificate replaced it)
// comes back from a journal entry as stored.
func TestJournalCarriesTheRevocation(t *testing.T) {
	live := certRecord{SerialNumber: "01:02", PublicKey: "key", Gateway: "gw1", Identity: "alice",
		IssuedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), ExpiresAt: time.Date(2026, 1, 3, 3, 4, 5, 0, time.UTC)}
	revoked := live
	revoked.RevokedAt = time.Date(2026, 1, 2, 9, 0, 0, 123456789, time.UTC)
	revoked.RevokedBy, revoked.RevokedByEntityID, revoked.Block, revoked.ReplacedBy = "bob", "entity-bob", "lost-laptop", "03:04"
	buf, err := json.Marshal(revocationJournalEntry{Revocations: []journaledRevocation{journaled(&revoked)}})
	require.NoError(t, err)
	var entry revocationJournalEntry
	require.NoError(t, json.Unmarshal(buf, &entry))
	require.Len(t, entry.Revocations, 1)
	got := live
	entry.Revocations[0].applyTo(&got)
	require.Equal(t, revoked, got)
}

// recordReads counts the reads of the certificate records of serials.
type recordReads struct {
	logical.Storage
	serials []string
	n       atomic.Int64
}

func (r *recordReads) Get(ctx context.Context, key string) (*logical.StorageEntry, error) {
	if s, ok := strings.CutPrefix(key, certStoragePrefix); ok && slices.Contains(r.serials, s) {
		r.n.Add(1)
	}
	return r.Storage.Get(ctx, key)
}

// TestPeriodicFoldsTheJournal: the periodic function (Vault calls it about
// once a minute) folds the journal, so that the records say revoked soon
// after a mass revocation, not only at the hourly tidy.
func TestPeriodicFoldsTheJournal(t *testing.T) {
	env := newTestEnv(t)
	leases := env.issueApart(6)
	h := env.hooked()
	for i, err := range env.revokeTogether(h, leases, nil) {
		require.NoError(t, err, "revocation %d", i)
	}
	require.Len(t, env.journalKeys(), 1)
	journal, err := loadJournal(context.Background(), env.storage)
	require.NoError(t, err)
	require.NotEmpty(t, journal)
	reads := &recordReads{Storage: env.storage, serials: slices.Collect(maps.Keys(journal))}
	require.NoError(t, env.b.periodic(context.Background(), &logical.Request{Storage: reads}))
	require.Empty(t, env.journalKeys())
	require.Zero(t, reads.n.Load(), "records read back: the process has them")
	for _, s := range leaseSerials(leases) {
		require.True(t, env.storedRevoked(s), "record of %s written revoked", s)
	}
}

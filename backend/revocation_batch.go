package backend

import (
	"context"
	"sync"
)

// A revocationBatcher persists revocations that arrive together with one
// storage write (group commit). A mass revocation (`vault lease revoke
// -prefix`) calls Revoke from about 200 of Vault's workers at once; each
// used to cost its own write, a round trip through gRPC into Vault's
// barrier and storage.
//
// The first revocation of a batch writes it, as soon as no other batch's
// write is in flight; those that arrive meanwhile join the batch and wait
// for that write. Every caller learns the outcome of the write that holds
// its revocation: none returns before it is stored, and a failed write
// fails every revocation of its batch. A revocation alone is written at
// once, as before. A batch holds at most max revocations, which keeps its
// storage entry well under storage backends' limits on an entry's size
// (Consul's 512 KiB; Raft's 1 MiB by default).
type revocationBatcher struct {
	max int
	mu  sync.Mutex
	// idle is signalled when a write ends or a batch's write begins.
	idle *sync.Cond
	// open is the batch collecting revocations, not yet being written.
	open *revocationBatch
	// writing is true while a batch is being written.
	writing bool
}

// A revocationBatch is revocations persisted by one write.
type revocationBatch struct {
	revoked []*certRecord
	done    chan struct{} // closed when the write ended; err is then set
	err     error
}

// maxRevocationBatch is the most revocations one write persists: about
// 80 KB of journal entry. Vault revokes with 200 workers by default.
const maxRevocationBatch = 512

// newRevocationBatcher returns a batcher of at most max revocations a batch.
func newRevocationBatcher(max int) *revocationBatcher {
	q := &revocationBatcher{max: max}
	q.idle = sync.NewCond(&q.mu)
	return q
}

// persist stores rec, a record written revoked, with the revocations
// arriving at the same time: write is called with the whole batch (rec
// among them) by the batch's first caller, with that caller's context.
// persist returns write's error, once the write ended.
func (q *revocationBatcher) persist(ctx context.Context, rec *certRecord, write func(context.Context, []*certRecord) error) error {
	q.mu.Lock()
	for q.open != nil && len(q.open.revoked) >= q.max {
		q.idle.Wait() // for the full batch's write to begin
	}
	b := q.open
	if b != nil {
		b.revoked = append(b.revoked, rec)
		q.mu.Unlock()
		<-b.done
		return b.err
	}
	b = &revocationBatch{revoked: []*certRecord{rec}, done: make(chan struct{})}
	q.open = b
	for q.writing {
		q.idle.Wait()
	}
	q.open, q.writing = nil, true
	q.idle.Broadcast()
	q.mu.Unlock()

	b.err = write(ctx, b.revoked)
	close(b.done)

	q.mu.Lock()
	q.writing = false
	q.idle.Broadcast()
	q.mu.Unlock()
	return b.err
}

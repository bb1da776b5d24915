package backend

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

// Knowing a change is enforced: a revocation with confirm, and a status
// read with index and wait, wait until every fresh instance of the
// gateways concerned has reported applying the feed revision that carried
// the change (judgeEnforcement decides, awaitEnforced waits on status
// writes through statusWaiters).

// maxConfirmWait bounds a confirm (or a status read's wait). Vault waits
// for requests in flight before it seals or steps down, and tells a plugin
// nothing before (see maxPeersWait), so a confirm in flight can delay a
// seal by what is left of it, never more than this. Healthy gateways
// answer within tens of milliseconds: only a lagging instance makes a
// confirm last.
const maxConfirmWait = 30 * time.Second

// statusWaiters wakes the waits of awaitEnforced when an instance of a
// gateway they watch reports.
type statusWaiters struct {
	mu        sync.Mutex
	byGateway map[string]map[chan struct{}]struct{}
}

// subscribe returns a channel that receives after any status write of one
// of gateways, and the function that ends the subscription. A write that
// happens between two receives is not lost: the channel holds one signal.
func (w *statusWaiters) subscribe(gateways []string) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.byGateway == nil {
		w.byGateway = make(map[string]map[chan struct{}]struct{})
	}
	for _, gw := range gateways {
		if w.byGateway[gw] == nil {
			w.byGateway[gw] = make(map[chan struct{}]struct{})
		}
		w.byGateway[gw][ch] = struct{}{}
	}
	return ch, func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		for _, gw := range gateways {
			delete(w.byGateway[gw], ch)
			if len(w.byGateway[gw]) == 0 {
				delete(w.byGateway, gw)
			}
		}
	}
}

// notify wakes every wait watching gateway.
func (w *statusWaiters) notify(gateway string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for ch := range w.byGateway[gateway] {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// An instanceState is one gateway instance in an enforcement answer.
type instanceState struct {
	Gateway      string    `json:"gateway"`
	InstanceID   string    `json:"instance_id"`
	AppliedIndex uint64    `json:"applied_index"`
	Index        uint64    `json:"index"` // the revision it must apply
	UpdatedAt    time.Time `json:"updated_at"`
}

// data is the instance as an answer shows it.
func (s instanceState) data() map[string]any {
	return map[string]any{
		"gateway":       s.Gateway,
		"instance_id":   s.InstanceID,
		"applied_index": s.AppliedIndex,
		"index":         s.Index,
		"last_report":   s.UpdatedAt.Format(time.RFC3339Nano),
	}
}

// An enforcement says which instances of the gateways concerned have
// applied a change and which have not.
type enforcement struct {
	// Applied names the fresh instances that applied it, as gateway/instance.
	Applied []string
	// Laggards are fresh instances that have not.
	Laggards []instanceState
	// Stale are instances whose reports stopped; they do not count.
	Stale []instanceState
	// Unwatched are gateways with no fresh instance: nobody is known to
	// enforce the change there.
	Unwatched []string
	// nextStale is when the first laggard turns stale if it does not
	// report (zero without laggards).
	nextStale time.Time
}

// Enforced reports whether every gateway concerned has a fresh instance
// and every fresh instance applied the change.
func (e *enforcement) Enforced() bool {
	return len(e.Laggards) == 0 && len(e.Unwatched) == 0
}

// data is the enforcement as an answer shows it.
func (e *enforcement) data() map[string]any {
	list := func(states []instanceState) []map[string]any {
		out := make([]map[string]any, 0, len(states))
		for _, s := range states {
			out = append(out, s.data())
		}
		return out
	}
	return map[string]any{
		"enforced":           e.Enforced(),
		"instances":          append([]string{}, e.Applied...),
		"laggards":           list(e.Laggards),
		"stale":              list(e.Stale),
		"unwatched_gateways": append([]string{}, e.Unwatched...),
	}
}

// judgeEnforcement compares, at now, what each gateway's instances
// reported (status, by gateway) with the revision each gateway must reach
// (targets).
func judgeEnforcement(now time.Time, targets map[string]uint64, status map[string][]statusEntry) enforcement {
	var e enforcement
	gateways := make([]string, 0, len(targets))
	for gw := range targets {
		gateways = append(gateways, gw)
	}
	slices.Sort(gateways)
	for _, gw := range gateways {
		fresh := 0
		for _, st := range status[gw] {
			s := instanceState{Gateway: gw, InstanceID: st.InstanceID, AppliedIndex: st.AppliedIndex, Index: targets[gw], UpdatedAt: st.UpdatedAt}
			switch {
			case now.After(st.staleAt()):
				e.Stale = append(e.Stale, s)
			case st.AppliedIndex >= targets[gw]:
				fresh++
				e.Applied = append(e.Applied, gw+"/"+st.InstanceID)
			default:
				fresh++
				e.Laggards = append(e.Laggards, s)
				if at := st.staleAt(); e.nextStale.IsZero() || at.Before(e.nextStale) {
					e.nextStale = at
				}
			}
		}
		if fresh == 0 {
			e.Unwatched = append(e.Unwatched, gw)
		}
	}
	return e
}

// enforcementTargets is, for each gateway of serials, its revision now:
// called after the serials were revoked, the revision that removed them or
// a later one.
func (r *registry) enforcementTargets(serials []string) map[string]uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	targets := make(map[string]uint64)
	for _, serial := range serials {
		var gw string
		if lc, ok := r.live[serial]; ok {
			gw = lc.rec.Gateway
		} else if d, ok := r.dead[serial]; ok {
			gw = d.rec.Gateway
		}
		if gw != "" {
			targets[gw] = r.feed(gw).index
		}
	}
	return targets
}

// awaitEnforced waits, up to wait, until every fresh instance of the
// gateways of targets has applied its target, and says how far they got.
// It reads the status once, then again after each status write of those
// gateways and when a laggard turns stale; it ends early when ctx does.
func (b *backend) awaitEnforced(ctx context.Context, s logical.Storage, targets map[string]uint64, wait time.Duration) (enforcement, error) {
	gateways := make([]string, 0, len(targets))
	for gw := range targets {
		gateways = append(gateways, gw)
	}
	woken, cancel := b.statusWaiters.subscribe(gateways)
	defer cancel()
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	// The certificates are revoked already: a client that goes away ends
	// the wait (below), never turns the answer into a storage error.
	read := context.WithoutCancel(ctx)
	for {
		status := make(map[string][]statusEntry, len(gateways))
		for _, gw := range gateways {
			entries, err := listStatus(read, s, gw)
			if err != nil {
				return enforcement{}, err
			}
			status[gw] = entries
		}
		now := b.now()
		e := judgeEnforcement(now, targets, status)
		if len(e.Laggards) == 0 {
			return e, nil
		}
		stale := time.NewTimer(max(e.nextStale.Sub(now), time.Millisecond))
		select {
		case <-woken:
		case <-stale.C:
		case <-deadline.C:
			stale.Stop()
			return e, nil
		case <-ctx.Done():
			stale.Stop()
			return e, nil
		}
		stale.Stop()
	}
}

// confirmDuration reads the duration field of a wait for enforcement: 0
// (the default) is no wait; a negative one or one over maxConfirmWait is
// the caller's mistake, whose message it returns.
func confirmDuration(d *framework.FieldData, field string) (time.Duration, string) {
	wait := time.Duration(d.Get(field).(int)) * time.Second
	if wait < 0 || wait > maxConfirmWait {
		return 0, fmt.Sprintf("%s: must be between 0s and %s", field, maxConfirmWait)
	}
	return wait, ""
}

// confirmRevoked waits up to wait until the revocation of serials is
// enforced by every gateway they were for, and adds the outcome to data.
func (b *backend) confirmRevoked(ctx context.Context, s logical.Storage, serials []string, wait time.Duration, data map[string]any) error {
	e, err := b.awaitEnforced(ctx, s, b.reg.enforcementTargets(serials), wait)
	if err != nil {
		return err
	}
	maps.Copy(data, e.data())
	return nil
}

// confirmField is the confirm field of a path that revokes.
func confirmField() *framework.FieldSchema {
	return &framework.FieldSchema{
		Type:        framework.TypeDurationSecond,
		Description: "Wait up to this long (at most 30s) until every fresh instance of every gateway concerned has applied the revocation; the answer then says enforced, and names the instances, laggards and stale instances.",
	}
}

// withConfirm makes h, a handler that revokes certificates and answers
// their serial_numbers, take confirm: refused before h runs when it is out
// of bounds, and waited for after h has returned (outside whatever locks h
// took), adding the outcome to h's answer.
func (b *backend) withConfirm(h framework.OperationFunc) framework.OperationFunc {
	return func(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
		wait, msg := confirmDuration(d, "confirm")
		if msg != "" {
			return logical.ErrorResponse(msg), nil
		}
		resp, err := h(ctx, req, d)
		if err != nil || wait == 0 || resp == nil || resp.IsError() {
			return resp, err
		}
		serials, _ := resp.Data["serial_numbers"].([]string)
		if err := b.confirmRevoked(ctx, req.Storage, serials, wait, resp.Data); err != nil {
			return nil, err
		}
		return resp, nil
	}
}

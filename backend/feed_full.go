package backend

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/peerfeed"
)

// A fullAnswer is a gateway's full peer set at one revision, encoded once
// as the HTTP body of a peers answer and shared by every reader of that
// revision: daemons starting together (a restart of the fleet, or of
// Vault) cost one build, not one each. The gateway's feed holds the
// latest; a change of the revision drops it (gatewayFeed.record).
type fullAnswer struct {
	index uint64
	pool  string        // the address pools it names, joined
	done  chan struct{} // closed once body or err is set
	// body is a string: what the raw response carries (feedResponse),
	// shared by every reader without a copy each.
	body string
	err  error
	// waiting counts the readers waiting for the build (tests look).
	waiting atomic.Int32
}

// fullBody is the body of the full answer of snap (a full snapshot of
// gateway taken by poll) naming pool as the gateway's pools, signed by
// signer, its certificates as DER when der is set: the shared one when it
// is built or being built for the same revision, pools, signer and
// format, otherwise built here, outside the registry's lock, and shared
// when the revision has not moved meanwhile.
func (r *registry) fullBody(ctx context.Context, gateway string, snap feedSnapshot, pool []string, signer *feedSigner, der bool) (string, error) {
	key := strings.Join(pool, ",") + "|" + signer.id() + "|" + strconv.FormatBool(der)
	r.mu.Lock()
	f := r.feed(gateway)
	a := f.full
	build := a == nil || a.index != snap.resp.Index || a.pool != key
	if build {
		a = &fullAnswer{index: snap.resp.Index, pool: key, done: make(chan struct{})}
		if f.index == snap.resp.Index {
			f.full = a
		}
	}
	r.mu.Unlock()
	if !build {
		a.waiting.Add(1)
		defer a.waiting.Add(-1)
		select {
		case <-a.done:
			return a.body, a.err
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	if r.buildHook != nil {
		r.buildHook()
	}
	snap.resp.AddressPool = pool
	body, err := encodeFull(snap, signer, der)
	a.body, a.err = string(body), err
	close(a.done)
	if a.err != nil {
		r.mu.Lock()
		if f.full == a {
			f.full = nil // the next reader tries again
		}
		r.mu.Unlock()
	}
	return a.body, a.err
}

// encodeFull encodes a full answer or a page of one, in Vault's envelope
// ({"data": …}), its peers signed by signer (feedSigner.sign), their
// certificates as DER when der is set (appendPeer), peer by
// peer into one buffer sized from the first peer: no slice of every peer,
// and no growth of the buffer by doubling. The records are in the order
// they are given (the peer order's, by serial) and are not changed. The
// bytes are those json.Marshal gives for the same peersEnvelope
// (TestEncodeFullAsMarshal).
func encodeFull(snap feedSnapshot, signer *feedSigner, der bool) ([]byte, error) {
	resp := snap.resp
	recs := snap.records
	sig, err := signer.sign(recs)
	if err != nil {
		return nil, err
	}
	head, err := json.Marshal(struct {
		Gateway     string              `json:"gateway"`
		AddressPool []string            `json:"address_pool"`
		Index       uint64              `json:"index"`
		Full        bool                `json:"full"`
		Signature   *peerfeed.Signature `json:"signature,omitempty"`
	}{resp.Gateway, resp.AddressPool, resp.Index, resp.Full, sig})
	if err != nil {
		return nil, fmt.Errorf("encode the peer feed: %w", err)
	}
	tail := []byte(`],"removed":[]`)
	if resp.Next != "" {
		next, err := json.Marshal(resp.Next)
		if err != nil {
			return nil, fmt.Errorf("encode the peer feed: %w", err)
		}
		tail = append(append(tail, `,"next":`...), next...)
	}
	tail = append(tail, "}}"...)
	size := len(`{"data":`) + len(head) + len(`,"peers":[`) + len(tail)
	var first, scratch []byte
	if len(recs) > 0 {
		if first, scratch, err = appendPeer(nil, nil, recs[0], der); err != nil {
			return nil, fmt.Errorf("encode the peer feed: %w", err)
		}
		// Peers differ in length by a few bytes (addresses, serials):
		// 1/32 more than the first one's for each.
		size += len(recs) * (len(first) + 1 + len(first)/32)
	}
	buf := make([]byte, 0, size)
	buf = append(buf, `{"data":`...)
	buf = append(buf, head[:len(head)-1]...) // without its closing brace
	buf = append(buf, `,"peers":[`...)
	for i, rec := range recs {
		if i > 0 {
			buf = append(buf, ',')
		}
		if buf, scratch, err = appendPeer(buf, scratch, rec, der); err != nil {
			return nil, fmt.Errorf("encode the peer feed: %w", err)
		}
	}
	buf = append(buf, tail...)
	return buf, nil
}

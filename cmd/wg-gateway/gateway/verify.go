package gateway

import (
	"crypto/x509"
	"errors"
	"fmt"
	"math/big"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/peerfeed"
	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/wgcert"
	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/wgkey"
	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/wgpolicy"
	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/cmd/wg-gateway/firewall"
)

// A Verifier decides whether a feed entry may become a peer.
type Verifier struct {
	// Roots are the trusted CAs.
	Roots []*x509.Certificate
	// Gateway is this gateway's name.
	Gateway string
	// Enforce says the gateway can enforce access policies; without it a
	// certificate carrying one is rejected (policy_unenforceable).
	Enforce bool
	// ruleSets, when set, makes the peers of one policy share one rule
	// set: 50,000 peers of 10 roles hold 10, not 50,000.
	ruleSets *ruleSets
}

// ruleSets are the rule sets of verified certificates, by id and by the
// encoding of the policy extension they were read from. Verifiers on
// several goroutines share it.
type ruleSets struct {
	mu    sync.RWMutex
	byID  map[string]*firewall.RuleSet
	byDER map[string]*firewall.RuleSet
}

func newRuleSets() *ruleSets {
	return &ruleSets{byID: make(map[string]*firewall.RuleSet), byDER: make(map[string]*firewall.RuleSet)}
}

// decode decodes a policy extension's value as wgpolicy.Unmarshal does:
// an encoding a verified certificate carried before is not decoded again
// (decoding is a function of the bytes alone). It is a
// wgcert.PolicyDecoder.
func (r *ruleSets) decode(der []byte) ([]wgpolicy.Destination, error) {
	if r != nil {
		r.mu.RLock()
		rs, ok := r.byDER[string(der)]
		r.mu.RUnlock()
		if ok {
			return rs.Destinations, nil
		}
	}
	return wgpolicy.Unmarshal(der)
}

// forVerified returns the rule set of a verified certificate whose policy
// extension's value der decoded to ds: the one of its id seen first (a
// new one the first time), remembered by der. Only verified certificates
// come here: what a feed sends unsigned takes no memory.
func (r *ruleSets) forVerified(der []byte, ds []wgpolicy.Destination) *firewall.RuleSet {
	if r == nil {
		return firewall.NewRuleSet(ds)
	}
	r.mu.RLock()
	rs, ok := r.byDER[string(der)]
	r.mu.RUnlock()
	if ok {
		return rs
	}
	rs = firewall.NewRuleSet(ds)
	r.mu.Lock()
	defer r.mu.Unlock()
	// Rule sets of one id have the same destinations: the id is a
	// digest of them.
	if have, ok := r.byID[rs.ID]; ok {
		rs = have
	} else {
		r.byID[rs.ID] = rs
	}
	r.byDER[string(der)] = rs
	return rs
}

// policyExtension is the value of cert's access policy extension (nil
// without one; wgcert.Parse refuses a certificate with two).
func policyExtension(cert *x509.Certificate) []byte {
	for _, ext := range cert.Extensions {
		if ext.Id.Equal(wgpolicy.OID) {
			return ext.Value
		}
	}
	return nil
}

// A Rejection is a feed entry that was not applied, and why.
type Rejection struct {
	Serial string
	Reason string // a short label for metrics: "authority", "expired", …
	Err    error
}

func (r *Rejection) Error() string {
	return fmt.Sprintf("peer %s rejected (%s): %v", r.Serial, r.Reason, r.Err)
}

// Verify checks a feed entry at now: its certificate parses, chains to one
// of the roots, is within its validity, is bound to this gateway and to the
// entry's key, and its addresses lie in pools. The peer it returns takes
// its addresses and expiry from the certificate, not from the entry.
func (v *Verifier) Verify(now time.Time, e peerfeed.Peer, pools []netip.Prefix) (Peer, *Rejection) {
	return v.verify(now, e, pools, nil, 0)
}

// verify is Verify of the entry at position pos of an answer signed as
// signed says (nil: unsigned): when the answer's signature vouches for
// the entry's certificate, its own signature is not checked again
// (signedAnswer.vouch).
func (v *Verifier) verify(now time.Time, e peerfeed.Peer, pools []netip.Prefix, signed *signedAnswer, pos int) (Peer, *Rejection) {
	reject := func(reason string, err error) (Peer, *Rejection) {
		return Peer{}, &Rejection{Serial: e.SerialNumber, Reason: reason, Err: err}
	}
	key, err := wgkey.ParsePublic(e.PublicKey)
	if err != nil {
		return reject("key", fmt.Errorf("public_key: %w", err))
	}
	cert, err := v.parseEntry(e)
	if err != nil {
		return reject("parse", err)
	}
	err = wgcert.Verify(now, cert, wgcert.VerifyOptions{
		Roots: v.Roots, Gateway: v.Gateway, PublicKey: &key, Pools: pools, Policies: v.ruleSets.decode,
		SignedBy: signed.vouch(v.Roots, pos, cert.X509.Raw),
	})
	if err != nil {
		return reject(reasonOf(err), err)
	}
	if !sameSerial(e.SerialNumber, cert.SerialNumber) {
		return reject("serial", fmt.Errorf("entry names serial %s, certificate has %s", e.SerialNumber, cert.SerialNumber.Text(16)))
	}
	if len(cert.Addresses) == 0 {
		return reject("addresses", errors.New("certificate has no address"))
	}
	ips := make([]netip.Prefix, len(cert.Addresses))
	for i, a := range cert.Addresses {
		ips[i] = netip.PrefixFrom(a, a.BitLen())
	}
	// The rules come from the certificate only: nothing else of the
	// entry can widen them.
	var policy *firewall.RuleSet
	if cert.HasPolicy {
		if !v.Enforce {
			return reject("policy_unenforceable", ErrPolicyUnenforceable)
		}
		policy = v.ruleSets.forVerified(policyExtension(cert.X509), cert.Destinations)
	}
	return Peer{Serial: e.SerialNumber, Key: key, AllowedIPs: sortPrefixes(ips), NotBefore: cert.NotBefore, NotAfter: cert.NotAfter, Policy: policy}, nil
}

// parseEntry parses an entry's certificate: its DER (certificate_der) or
// its PEM (certificate), whichever the engine sent; an entry with both is
// refused, so that no reader can take one where another took the other.
func (v *Verifier) parseEntry(e peerfeed.Peer) (*wgcert.Certificate, error) {
	switch {
	case len(e.CertificateDER) > 0 && e.Certificate != "":
		return nil, ErrTwoCertificates
	case len(e.CertificateDER) > 0:
		return wgcert.ParseWith(e.CertificateDER, v.ruleSets.decode)
	}
	return wgcert.ParsePEMWith([]byte(e.Certificate), v.ruleSets.decode)
}

// parallelFrom is the answer size from which VerifyAll spreads the work
// over the CPUs; below it a goroutine costs more than it saves.
const parallelFrom = 64

// VerifyAll verifies entries as Verify does, on every CPU, and returns for
// each entry, in order, its peer or its rejection.
func (v *Verifier) VerifyAll(now time.Time, entries []peerfeed.Peer, pools []netip.Prefix) ([]Peer, []*Rejection) {
	return v.verifyAnswer(now, entries, pools, nil)
}

// verifyAnswer is VerifyAll of the entries of an answer signed as signed
// says (nil: unsigned).
func (v *Verifier) verifyAnswer(now time.Time, entries []peerfeed.Peer, pools []netip.Prefix, signed *signedAnswer) ([]Peer, []*Rejection) {
	peers := make([]Peer, len(entries))
	rejections := make([]*Rejection, len(entries))
	workers := 1
	if len(entries) >= parallelFrom {
		workers = runtime.GOMAXPROCS(0)
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(entries); i += workers {
				peers[i], rejections[i] = v.verify(now, entries[i], pools, signed, i)
			}
		}()
	}
	wg.Wait()
	return peers, rejections
}

// A verifiedBatch is a batch of entries verified: for each entry (its
// serial and key only; the certificate is dropped), its peer or its
// rejection.
type verifiedBatch struct {
	entries    []peerfeed.Peer
	peers      []Peer
	rejections []*Rejection
}

// verifiedAhead is how many verified batches may wait for Run.
const verifiedAhead = 32

// verifyStream verifies the batches of in as they come, on every CPU,
// and hands each verified batch to the channel it returns (batches in
// any order, entries in theirs), which is closed once in is closed and
// every batch verified.
func (v *Verifier) verifyStream(now time.Time, in <-chan entryBatch) <-chan verifiedBatch {
	out := make(chan verifiedBatch, verifiedAhead)
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range in {
				vb := verifiedBatch{entries: make([]peerfeed.Peer, len(b.entries)),
					peers: make([]Peer, len(b.entries)), rejections: make([]*Rejection, len(b.entries))}
				for i, e := range b.entries {
					vb.peers[i], vb.rejections[i] = v.verify(now, e, b.pools, b.signed, b.first+i)
					vb.entries[i] = peerfeed.Peer{SerialNumber: e.SerialNumber, PublicKey: e.PublicKey}
				}
				out <- vb
			}
		}()
	}
	go func() {
		wg.Wait()
		close(out)
	}()
	return out
}

// sameSerial reports whether a feed serial (hex, with or without colons)
// is n.
func sameSerial(s string, n *big.Int) bool {
	v, ok := new(big.Int).SetString(strings.ReplaceAll(s, ":", ""), 16)
	return ok && v.Cmp(n) == 0
}

// reasonOf labels a verification error for the rejected-certificates metric.
func reasonOf(err error) string {
	for _, r := range []struct {
		err   error
		label string
	}{
		{wgcert.ErrUnknownAuthority, "authority"},
		{wgcert.ErrCAExpired, "ca_expired"},
		{wgcert.ErrExpired, "expired"},
		{wgcert.ErrNotYetValid, "not_yet_valid"},
		{wgcert.ErrWrongGateway, "gateway"},
		{wgcert.ErrKeyMismatch, "key_mismatch"},
		{wgcert.ErrAddressOutsidePool, "address"},
		{wgkey.ErrLowOrder, "key"},
		{wgcert.ErrBadPolicy, "policy"},
	} {
		if errors.Is(err, r.err) {
			return r.label
		}
	}
	return "invalid"
}

// parsePools parses the feed's address pools, skipping what does not parse
// (a pool the daemon cannot read admits no address).
func parsePools(in []string) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(in))
	for _, s := range in {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
		}
	}
	return out
}

// inPools reports whether every prefix lies in one of pools.
func inPools(ips []netip.Prefix, pools []netip.Prefix) bool {
	for _, ip := range ips {
		if !slices.ContainsFunc(pools, func(p netip.Prefix) bool { return p.Contains(ip.Addr()) && p.Bits() <= ip.Bits() }) {
			return false
		}
	}
	return true
}

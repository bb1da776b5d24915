package backend

import (
	"errors"
	"fmt"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// errReplaces is the sentinel of every refusal of an issue's replaces
// field; the error wrapping it says what is wrong.
var errReplaces = errors.New("replaces")

// replaceRefusal is a refusal of replaces naming the serial and why.
func replaceRefusal(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errReplaces, fmt.Sprintf(format, args...))
}

// predecessor returns the certificate whose addresses the reserved rec
// keeps: the one it replaces (rec.Replaces), which must be a live,
// committed, unexpired certificate of rec's identity on gw that nothing
// else is replacing; or, without replaces, the identity's newest live
// committed certificate for the key point p on gw, if any. The caller holds
// mu.
func (r *registry) predecessor(gw *gatewayEntry, rec *certRecord, p wgtypes.Key) (*certRecord, error) {
	if rec.Replaces != "" {
		return r.replaceable(gw, rec)
	}
	var newest *certRecord
	r.eachLiveOfKey(p, func(lc *liveCert) {
		old := lc.rec
		// One being replaced gives its addresses to its successor only.
		if lc.pending || lc.replacedBy != "" || old.Identity != rec.Identity || old.Gateway != gw.Name || !old.ExpiresAt.After(rec.IssuedAt) {
			return
		}
		if newest == nil || old.IssuedAt.After(newest.IssuedAt) {
			newest = old
		}
	})
	return newest, nil
}

// replaceable returns the certificate rec.Replaces names, or the refusal
// saying why rec may not replace it. The caller holds mu.
func (r *registry) replaceable(gw *gatewayEntry, rec *certRecord) (*certRecord, error) {
	serial := rec.Replaces
	lc, ok := r.live[serial]
	switch {
	case !ok && r.dead[serial].rec != nil:
		return nil, replaceRefusal("certificate %s is revoked", serial)
	case !ok || lc.pending:
		return nil, replaceRefusal("no live certificate with serial %s", serial)
	case lc.rec.Identity != rec.Identity:
		return nil, replaceRefusal("certificate %s belongs to another identity", serial)
	case lc.rec.Gateway != gw.Name:
		return nil, replaceRefusal("certificate %s is for gateway %q, not %q", serial, lc.rec.Gateway, gw.Name)
	case !lc.rec.ExpiresAt.After(rec.IssuedAt):
		return nil, replaceRefusal("certificate %s has expired", serial)
	case lc.replacedBy != "":
		return nil, replaceRefusal("certificate %s is already replaced by %s", serial, lc.replacedBy)
	}
	return lc.rec, nil
}

package firewall

import (
	"crypto/sha256"
	"encoding/hex"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/wgpolicy"
)

// A RuleSet is the destinations of one policy, with the short id its
// chain and drop counter are named after.
type RuleSet struct {
	// ID is the first 16 hex digits of the SHA-256 of the policy's
	// wgpolicy.Key: short enough for a chain name, long enough that two
	// roles never meet.
	ID           string
	Destinations []wgpolicy.Destination
}

// NewRuleSet returns the rule set of destinations (as a certificate
// carries them, canonical).
func NewRuleSet(ds []wgpolicy.Destination) *RuleSet {
	sum := sha256.Sum256([]byte(wgpolicy.Key(ds)))
	return &RuleSet{ID: hex.EncodeToString(sum[:8]), Destinations: ds}
}

// chainName is the name of the chain of the rule set with id.
func chainName(id string) string { return "rs_" + id }

// counterName is the name of the drop counter of the rule set with id.
func counterName(id string) string { return "drop_" + id }

// idOfChain returns the rule-set id of a chain name, if it is one.
func idOfChain(name string) (string, bool) {
	if len(name) > 3 && name[:3] == "rs_" {
		return name[3:], true
	}
	return "", false
}

package gateway

import (
	"time"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/cmd/internal/backoff"
)

// newBackoff is the retry delay towards Vault: from 200 ms up to 5 s, so
// that the daemon is back within seconds of Vault (or a new leader).
func newBackoff() backoff.Backoff {
	return backoff.Backoff{Min: 200 * time.Millisecond, Max: 5 * time.Second}
}

package gateway

import (
	"slices"
	"testing"
	"time"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/peerfeed"
)

// TestPollBacksOffAfterAnError: a feed that fails is read again after a
// delay that doubles with each failure (newBackoff: from 200 ms, random
// in [d/2, d]), each failure is counted, and the first answer after them
// is applied.
func TestPollBacksOffAfterAnError(t *testing.T) {
	f := newDaemonFixture(t, false, Interface{})
	a, keyA := f.entry(t, "10.77.0.2", time.Hour)
	for range 3 {
		f.v.answer(nil, errVault)
	}
	f.v.answer(&peerfeed.Response{Index: 1, Full: true, AddressPool: []string{"10.77.0.0/24"}, Peers: []peerfeed.Peer{a}}, nil)
	f.run(t)
	waitDevice(t, f.dev, keyA)

	f.v.mu.Lock()
	at, asked := slices.Clone(f.v.askedAt), slices.Clone(f.v.asked)
	f.v.mu.Unlock()
	if len(at) < 4 || !slices.Equal(asked[:4], []uint64{0, 0, 0, 0}) {
		t.Fatalf("polls asked for %v, want the full set four times", asked)
	}
	for i, least := range []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond} {
		if gap := at[i+1].Sub(at[i]); gap < least {
			t.Errorf("poll %d came %v after failure %d, want at least %v", i+2, gap, i+1, least)
		}
	}
	if n := vaultErrors(t, f.d, "peers"); n != 3 {
		t.Errorf("wg_gateway_vault_errors_total{op=peers} = %v, want 3", n)
	}
}

package gateway

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/peerfeed"
)

// FuzzFeed decodes arbitrary feed answers as the daemon does and applies
// them to a fake device: nothing panics, and only peers whose certificate
// verifies reach the device.
func FuzzFeed(f *testing.F) {
	fx := newDaemonFixture(f, false, Interface{})
	good, _ := fx.entry(f, "10.77.0.2", time.Hour)
	valid, _ := json.Marshal(map[string]any{"data": peerfeed.Response{
		Gateway: "gw1", Index: 5, Full: true, AddressPool: []string{"10.77.0.0/24"}, Peers: []peerfeed.Peer{good},
	}})
	f.Add(valid)
	// The same entry with its certificate as DER, and with both.
	validDER, _ := json.Marshal(map[string]any{"data": peerfeed.Response{
		Gateway: "gw1", Index: 5, Full: true, AddressPool: []string{"10.77.0.0/24"}, Peers: []peerfeed.Peer{asDER(f, good)},
	}})
	f.Add(validDER)
	both := asDER(f, good)
	both.Certificate = good.Certificate
	validBoth, _ := json.Marshal(map[string]any{"data": peerfeed.Response{
		Gateway: "gw1", Index: 5, Full: true, AddressPool: []string{"10.77.0.0/24"}, Peers: []peerfeed.Peer{both},
	}})
	f.Add(validBoth)
	f.Add([]byte(`{"data":{"index":7,"full":false,"removed":[{"serial_number":"x","public_key":"y"}]}}`))
	f.Add([]byte(`{"data":{"peers":[{"public_key":"AAAA","certificate":"-----BEGIN CERTIFICATE-----\nMA==\n-----END CERTIFICATE-----"}]}}`))
	f.Add([]byte(`{"data":{"address_pool":["0.0.0.0/0","::/0"],"peers":null}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var doc struct {
			Data peerfeed.Response `json:"data"`
		}
		if json.Unmarshal(body, &doc) != nil {
			return
		}
		// One fixture for every input (its CA signed the seed), reset each time.
		fx.d.peers, fx.d.rejected, fx.d.applied, fx.dev.peers = newPeerState(), map[string]string{}, nil, Interface{}
		fx.d.handle(context.Background(), &doc.Data)
		for key := range fx.dev.peers {
			found := false
			for _, p := range fx.d.peers.bySerial {
				found = found || p.Key == key
			}
			if !found {
				t.Fatalf("key %s on the device without a verified certificate", key)
			}
		}
		for serial, p := range fx.d.peers.bySerial {
			var e *peerfeed.Peer
			for i := range doc.Data.Peers {
				if doc.Data.Peers[i].SerialNumber == serial {
					e = &doc.Data.Peers[i]
				}
			}
			if e == nil {
				t.Fatalf("serial %s in the set but not in the answer", serial)
			}
			if _, rej := fx.d.verifier.Verify(fx.now, *e, fx.d.pools); rej != nil || p.Key.String() != e.PublicKey {
				t.Fatalf("serial %s applied but does not verify: %v", serial, rej)
			}
		}
	})
}

package device

import (
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

func TestNextSettleStep(t *testing.T) {
	since := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name       string
		peer       wgtypes.Peer
		configured time.Time
		now        time.Time
		want       settleStep
	}{
		{"nothing sent yet", wgtypes.Peer{}, since, since.Add(time.Second), settleWait},
		{"initiation sent, still in time", wgtypes.Peer{TransmitBytes: 148}, since, since.Add(settleKick - time.Millisecond), settleWait},
		{"initiation unanswered", wgtypes.Peer{TransmitBytes: 148}, since, since.Add(settleKick), settleKickPeer},
		{"unanswered since the last kick only briefly", wgtypes.Peer{TransmitBytes: 148}, since.Add(time.Second), since.Add(time.Second + settleKick/2), settleWait},
		{"handshake after the switch", wgtypes.Peer{TransmitBytes: 148, LastHandshakeTime: since.Add(time.Millisecond)}, since, since.Add(time.Second), settleDone},
		{"a handshake before the switch does not count", wgtypes.Peer{LastHandshakeTime: since.Add(-time.Second)}, since, since.Add(time.Millisecond), settleWait},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, nextSettleStep(tc.peer, since, tc.configured, tc.now))
		})
	}
}

// handshakeWG is an interface whose gateway peer sends an initiation that
// is answered only after the peer was configured afresh kicks times.
type handshakeWG struct {
	gw    wgtypes.Key
	kicks int

	mu         sync.Mutex
	configured int
}

func (f *handshakeWG) Device(name string) (*wgtypes.Device, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := wgtypes.Peer{PublicKey: f.gw, TransmitBytes: 148}
	if f.configured >= f.kicks {
		p.LastHandshakeTime = time.Now()
	}
	return &wgtypes.Device{Name: name, Peers: []wgtypes.Peer{p}}, nil
}

func (f *handshakeWG) ConfigureDevice(string, wgtypes.Config) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.configured++
	return nil
}

// TestSettleKicksAnUnansweredPeer: a first initiation the gateway dropped
// is followed by a fresh peer after settleKick, not by WireGuard's 5 s
// retry; an answered one by nothing.
func TestSettleKicksAnUnansweredPeer(t *testing.T) {
	gw := mustKey(t).PublicKey()
	g := &Grant{Lease: &Lease{GatewayPublicKey: gw}}
	for _, kicks := range []int{0, 1, 2} {
		wg := &handshakeWG{gw: gw, kicks: kicks}
		i := &Interface{Name: "wg0", WG: wg, Logger: hclog.NewNullLogger()}
		start := time.Now()
		i.Settle(t.Context(), g, start)
		require.Equal(t, kicks, wg.configured)
		require.Less(t, time.Since(start), settleFor, "settled before giving up")
	}
}

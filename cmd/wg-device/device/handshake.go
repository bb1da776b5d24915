package device

import (
	"context"
	"time"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/cmd/internal/backoff"
)

// A Settler is a Sink that can see a switch through: after Install, Settle
// returns once the new configuration carries traffic, or gives up.
type Settler interface {
	Settle(ctx context.Context, g *Grant, since time.Time)
}

const (
	// settlePoll is how often Settle reads the gateway peer.
	settlePoll = 20 * time.Millisecond
	// settleKick is how long a handshake initiation may go unanswered
	// before the peer is configured afresh.
	settleKick = 150 * time.Millisecond
	// settleFor bounds how long Settle watches.
	settleFor = 3 * time.Second
)

// A settleStep is what Settle does after one look at the gateway peer.
type settleStep int

const (
	settleWait     settleStep = iota // look again
	settleDone                       // a handshake completed after the switch
	settleKickPeer                   // configure the peer afresh
)

// nextSettleStep decides, at now, from the gateway peer as the interface
// reports it, after a switch at since and the last (re)configuration at
// configured: done once a handshake completed after since; a fresh peer
// when the peer has sent something (an initiation) and nothing answered
// for settleKick.
func nextSettleStep(peer wgtypes.Peer, since, configured, now time.Time) settleStep {
	switch {
	case peer.LastHandshakeTime.After(since):
		return settleDone
	case peer.TransmitBytes > 0 && now.Sub(configured) >= settleKick:
		return settleKickPeer
	}
	return settleWait
}

// Settle watches the gateway peer after the switch to g at since, for at
// most settleFor, until a handshake completes. A successor certificate
// takes the device's address over on the gateways as it is issued, and the
// device switches at once: if its first initiation reached the gateway
// before the gateway added the new key, WireGuard would try again only
// after REKEY_TIMEOUT (5 s). A peer configured afresh initiates again with
// its next packet, so Settle does that when an initiation goes unanswered.
// Failures to read or configure the interface end it, logged: the switch
// itself is done.
func (i *Interface) Settle(ctx context.Context, g *Grant, since time.Time) {
	ctx, cancel := context.WithTimeout(ctx, settleFor)
	defer cancel()
	configured := since
	for backoff.Wait(ctx, settlePoll) {
		dev, err := i.WG.Device(i.Name)
		if err != nil {
			i.Logger.Warn("cannot read the interface to see the switch through", "error", err)
			return
		}
		var peer wgtypes.Peer
		for _, p := range dev.Peers {
			if p.PublicKey == g.Lease.GatewayPublicKey {
				peer = p
			}
		}
		now := time.Now()
		switch nextSettleStep(peer, since, configured, now) {
		case settleDone:
			i.Logger.Debug("handshake with the gateway after the switch", "after", peer.LastHandshakeTime.Sub(since).Round(time.Millisecond))
			return
		case settleKickPeer:
			i.Logger.Debug("the gateway did not answer the first handshake (it had not added the key yet): configuring the peer afresh")
			if err := i.WG.ConfigureDevice(i.Name, i.applied); err != nil {
				i.Logger.Warn("cannot configure the interface again", "error", err)
				return
			}
			configured = now
		}
	}
}

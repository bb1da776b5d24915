package test

import (
	"math/rand/v2"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestWireGuardNamespacesPassTraffic checks the network harness itself: two
// namespaces joined by a veth pair, a wireguard-go interface in each, pass
// a ping through the tunnel once they are peers, and stop passing it when
// the gateway removes the device.
func TestWireGuardNamespacesPassTraffic(t *testing.T) {
	requireNetTools(t)
	t.Parallel()

	gatewayNS, deviceNS := newNetns(t), newNetns(t)
	linkVeth(t, gatewayNS, deviceNS, "10.250.0.1/24", "10.250.0.2/24")
	require.True(t, deviceNS.canPing("10.250.0.1", 2*time.Second), "the veth pair passes no traffic")

	gateway := newWG(t, gatewayNS, "10.77.0.1/16", 20000+rand.IntN(40000))
	device := newWG(t, deviceNS, "10.77.0.2/32", 0)
	require.NotZero(t, device.port, "wireguard-go chose no port")

	// Not peers yet: even with a route into the tunnel, nothing answers.
	deviceNS.mustExec(t, "ip", "route", "add", "10.77.0.0/16", "dev", device.name)
	require.False(t, deviceNS.canPing("10.77.0.1", time.Second), "ping passed with no peers")

	// The gateway knows the device, but the device does not know the gateway.
	// (The other way round, the device's first handshake would go unanswered
	// and WireGuard would retry it only after 5s.)
	gateway.addPeer(t, device.public, nil, []string{"10.77.0.2/32"}, 0)
	require.True(t, gateway.hasPeer(t, device.public))
	require.False(t, deviceNS.canPing("10.77.0.1", time.Second), "ping passed with a peer on one side only")

	endpoint := &net.UDPAddr{IP: net.ParseIP("10.250.0.1"), Port: gateway.port}
	device.addPeer(t, gateway.public, endpoint, []string{"10.77.0.0/16"}, 0)
	require.True(t, pingsWithin(deviceNS, "10.77.0.1", 5*time.Second), "no ping through the tunnel within 5s")
	require.Contains(t, gateway.wgShow(t), "peer: "+device.public.String())

	gateway.removePeer(t, device.public)
	require.False(t, gateway.hasPeer(t, device.public))
	require.NotContains(t, gateway.wgShow(t), device.public.String())
	require.True(t, stopsPingingWithin(deviceNS, "10.77.0.1", 3*time.Second),
		"ping still passes 3s after the gateway removed the device")
	require.False(t, deviceNS.canPing("10.77.0.1", time.Second), "ping passed again after the device was removed")
}

// pingsWithin reports whether a ping from n to addr gets an answer before
// limit passes, retrying (the first packets may wait for a handshake).
func pingsWithin(n *netns, addr string, limit time.Duration) bool {
	deadline := time.Now().Add(limit)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return false
		}
		if n.canPing(addr, min(left, time.Second)) {
			return true
		}
	}
}

// stopsPingingWithin reports whether a ping from n to addr goes unanswered
// before limit passes.
func stopsPingingWithin(n *netns, addr string, limit time.Duration) bool {
	deadline := time.Now().Add(limit)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return false
		}
		if !n.canPing(addr, min(left, 500*time.Millisecond)) {
			return true
		}
		time.Sleep(100 * time.Millisecond)
	}
}

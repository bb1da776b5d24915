package device

import (
	"context"
	"net"
	"net/netip"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// fakeLink is an interface's addresses, recording every change along with
// the WireGuard configurations in one log.
type fakeLink struct {
	addrs []netip.Prefix
	log   *eventLog
}

func (f *fakeLink) Up(_ context.Context, iface string, mtu int) error {
	f.log.add("up " + iface)
	return nil
}

func (f *fakeLink) Addresses(context.Context, string) ([]netip.Prefix, error) { return f.addrs, nil }

func (f *fakeLink) AddAddress(_ context.Context, _ string, p netip.Prefix) error {
	f.addrs = append(f.addrs, p)
	f.log.add("add " + p.String())
	return nil
}

func (f *fakeLink) DelAddress(_ context.Context, _ string, p netip.Prefix) error {
	f.log.add("del " + p.String())
	return nil
}

func (f *fakeLink) ReplaceRoute(_ context.Context, _ string, p netip.Prefix) error {
	f.log.add("route " + p.String())
	return nil
}

type fakeWG struct {
	log     *eventLog
	last    wgtypes.Config
	devices []string // the interfaces Device finds; nil finds any
}

func (f *fakeWG) Device(name string) (*wgtypes.Device, error) {
	if f.devices != nil && !slices.Contains(f.devices, name) {
		return nil, os.ErrNotExist
	}
	return &wgtypes.Device{Name: name}, nil
}

func (f *fakeWG) ConfigureDevice(name string, cfg wgtypes.Config) error {
	f.last = cfg
	f.log.add("configure " + cfg.PrivateKey.PublicKey().String())
	return nil
}

func TestInterfaceInstallMakesBeforeBreaking(t *testing.T) {
	priv, gwPriv := mustKey(t), mustKey(t)
	l, err := ParseIssue(issueAnswer(priv.PublicKey(), gwPriv.PublicKey()), priv.PublicKey(), time.Now())
	require.NoError(t, err)
	log := &eventLog{}
	link := &fakeLink{addrs: prefixes("10.77.0.9/32"), log: log}
	wg := &fakeWG{log: log}
	i := &Interface{Name: "wg0", WG: wg, Link: link, Logger: hclog.NewNullLogger(),
		Resolve: func(_ context.Context, hostport string) (*net.UDPAddr, error) {
			require.Equal(t, "198.51.100.1:51820", hostport)
			return &net.UDPAddr{IP: net.IPv4(198, 51, 100, 1), Port: 51820}, nil
		}}
	require.NoError(t, i.Install(t.Context(), &Grant{Lease: l, Private: priv}))
	require.Equal(t, []string{
		"up wg0",
		"add 10.77.0.2/32", "add fd77::2/128", // the new addresses, the old one still in use
		"configure " + priv.PublicKey().String(), // key and peer switch at once
		"del 10.77.0.9/32",                       // then the old address goes
		"route 10.77.0.0/16", "route fd77::/64",
	}, log.get())
	require.Equal(t, gwPriv.PublicKey(), wg.last.Peers[0].PublicKey)
}

func TestInterfacePrepare(t *testing.T) {
	log := &eventLog{}
	i := &Interface{Name: "wgnosuch0", WG: &fakeWG{log: log, devices: []string{"wg0"}}, Link: &fakeLink{log: log}}
	require.EqualError(t, i.Prepare(t.Context()), "-interface wgnosuch0: no WireGuard interface of that name: "+
		"create it first (ip link add wgnosuch0 type wireguard, or wireguard-go wgnosuch0)")
	i.Name = "wg0"
	require.NoError(t, i.Prepare(t.Context()))
	require.Empty(t, log.get(), "Prepare changes nothing")
}

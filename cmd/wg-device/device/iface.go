package device

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os/exec"
	"strconv"
	"strings"

	"github.com/hashicorp/go-hclog"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// A Sink puts a grant to use.
type Sink interface {
	Install(ctx context.Context, g *Grant) error
}

// A Preparer is a Sink that can tell, before a certificate is asked for,
// whether it will be able to install one.
type Preparer interface {
	Prepare(ctx context.Context) error
}

// A Replacer is a Sink that holds a certificate from an earlier run, which
// its next Install replaces. Replaced returns it (nil if there is none).
type Replacer interface {
	Replaced() (*Grant, error)
}

// A Configurer reads and configures WireGuard interfaces; *wgctrl.Client
// is one.
type Configurer interface {
	Device(name string) (*wgtypes.Device, error)
	ConfigureDevice(name string, cfg wgtypes.Config) error
}

// A Link changes an interface's state, addresses and routes. IPCommand,
// which runs ip(8), is one.
type Link interface {
	Up(ctx context.Context, iface string, mtu int) error
	Addresses(ctx context.Context, iface string) ([]netip.Prefix, error)
	AddAddress(ctx context.Context, iface string, p netip.Prefix) error
	DelAddress(ctx context.Context, iface string, p netip.Prefix) error
	ReplaceRoute(ctx context.Context, iface string, p netip.Prefix) error
}

// Interface installs grants on an existing WireGuard interface.
type Interface struct {
	Name   string
	WG     Configurer
	Link   Link
	Logger hclog.Logger
	// Resolve turns the gateway's host:port into an address; nil uses
	// net.ResolveUDPAddr.
	Resolve func(ctx context.Context, hostport string) (*net.UDPAddr, error)

	applied wgtypes.Config // the last configuration Install applied, for Settle
}

// Prepare checks that the interface exists, as a WireGuard interface
// wgctrl can configure and as a link of this network namespace.
func (i *Interface) Prepare(ctx context.Context) error {
	if _, err := i.WG.Device(i.Name); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("-interface %s: no WireGuard interface of that name: create it first "+
				"(ip link add %s type wireguard, or wireguard-go %s)", i.Name, i.Name, i.Name)
		}
		return fmt.Errorf("-interface %s: %w", i.Name, err)
	}
	if _, err := i.Link.Addresses(ctx, i.Name); err != nil {
		return fmt.Errorf("-interface %s: not a link of this network namespace: %w", i.Name, err)
	}
	return nil
}

// Install switches the interface to the grant, make-before-break: the new
// addresses are added first (the old ones stay the source of traffic), then
// the private key and the gateway peer change in one configuration, then
// the old addresses go and the gateway's routes are put in place.
func (i *Interface) Install(ctx context.Context, g *Grant) error {
	l := g.Lease
	resolve := i.Resolve
	if resolve == nil {
		resolve = resolveUDP
	}
	endpoint, err := resolve(ctx, l.Endpoint)
	if err != nil {
		return fmt.Errorf("gateway endpoint %s: %w", l.Endpoint, err)
	}
	if err := i.Link.Up(ctx, i.Name, l.MTU); err != nil {
		return err
	}
	current, err := i.Link.Addresses(ctx, i.Name)
	if err != nil {
		return err
	}
	plan := PlanLink(current, l.Addresses, l.AllowedIPs)
	for _, p := range plan.Add {
		if err := i.Link.AddAddress(ctx, i.Name, p); err != nil {
			return err
		}
	}
	cfg := l.DeviceConfig(g.Private, endpoint)
	if err := i.WG.ConfigureDevice(i.Name, cfg); err != nil {
		return fmt.Errorf("configure WireGuard interface %s: %w", i.Name, err)
	}
	i.applied = cfg
	for _, p := range plan.Del {
		if err := i.Link.DelAddress(ctx, i.Name, p); err != nil {
			return err
		}
	}
	for _, p := range plan.Routes {
		if err := i.Link.ReplaceRoute(ctx, i.Name, p); err != nil {
			return err
		}
	}
	if len(plan.Skipped) > 0 {
		i.Logger.Warn("default routes are not set up with -interface (use wg-quick with the -config file for a full tunnel)",
			"skipped", prefixStrings(plan.Skipped))
	}
	if len(l.DNS) > 0 {
		i.Logger.Info("DNS servers are in the wg-quick file only; -interface leaves the resolver alone", "dns", l.DNS)
	}
	return nil
}

func resolveUDP(ctx context.Context, hostport string) (*net.UDPAddr, error) {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return nil, err
	}
	portNum, err := strconv.Atoi(port)
	if err != nil {
		return nil, fmt.Errorf("port %q: %w", port, err)
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, uint16(portNum))), nil
	}
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, err
	}
	if len(ips) == 0 {
		return nil, fmt.Errorf("%s has no address", host)
	}
	return net.UDPAddrFromAddrPort(netip.AddrPortFrom(ips[0].Unmap(), uint16(portNum))), nil
}

// IPCommand is a Link that runs ip(8) from iproute2 in the current network
// namespace.
type IPCommand struct {
	// Path is the ip binary; empty finds "ip" on PATH.
	Path string
}

func (c IPCommand) run(ctx context.Context, args ...string) ([]byte, error) {
	bin := c.Path
	if bin == "" {
		bin = "ip"
	}
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return out, nil
}

// Up sets the interface up, and its MTU when mtu is not 0.
func (c IPCommand) Up(ctx context.Context, iface string, mtu int) error {
	args := []string{"link", "set", "dev", iface}
	if mtu > 0 {
		args = append(args, "mtu", strconv.Itoa(mtu))
	}
	_, err := c.run(ctx, append(args, "up")...)
	return err
}

// Addresses lists the interface's global addresses.
func (c IPCommand) Addresses(ctx context.Context, iface string) ([]netip.Prefix, error) {
	out, err := c.run(ctx, "-j", "addr", "show", "dev", iface)
	if err != nil {
		return nil, err
	}
	return ParseIPAddrJSON(out)
}

// AddAddress adds p to the interface (ip addr replace: adding it twice is fine).
func (c IPCommand) AddAddress(ctx context.Context, iface string, p netip.Prefix) error {
	args := []string{"addr", "replace", p.String(), "dev", iface}
	if p.Addr().Is6() {
		args = append(args, "nodad") // a point-to-point tunnel address needs no duplicate detection
	}
	_, err := c.run(ctx, args...)
	return err
}

// DelAddress removes p from the interface.
func (c IPCommand) DelAddress(ctx context.Context, iface string, p netip.Prefix) error {
	_, err := c.run(ctx, "addr", "del", p.String(), "dev", iface)
	return err
}

// ReplaceRoute routes p to the interface.
func (c IPCommand) ReplaceRoute(ctx context.Context, iface string, p netip.Prefix) error {
	_, err := c.run(ctx, "route", "replace", p.String(), "dev", iface)
	return err
}

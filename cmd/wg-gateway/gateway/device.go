package gateway

import "golang.zx2c4.com/wireguard/wgctrl/wgtypes"

// A Device configures WireGuard interfaces. *wgctrl.Client satisfies it,
// for kernel and userspace interfaces alike.
type Device interface {
	Device(name string) (*wgtypes.Device, error)
	ConfigureDevice(name string, cfg wgtypes.Config) error
}

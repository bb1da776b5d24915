package gateway

import (
	"context"
	"fmt"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/cmd/internal/secretfile"
)

// setUp readies the daemon before it follows the feed: the interface's
// key and port, the managed pools it pinned, a login (retried until it
// succeeds or ctx ends), and the CAs it trusts.
func (d *Daemon) setUp(ctx context.Context) error {
	if err := d.configureInterface(); err != nil {
		return err
	}
	if err := d.loadManagedPools(); err != nil {
		return err
	}
	if err := d.vault.Login(ctx); err != nil {
		return err
	}
	return d.loadCA(ctx)
}

// configureInterface sets the interface's private key and port, if given.
func (d *Daemon) configureInterface() error {
	var cfg wgtypes.Config
	if d.cfg.PrivateKeyFile != "" {
		s, err := secretfile.Read(d.cfg.PrivateKeyFile, d.logger)
		if err != nil {
			return fmt.Errorf("private key: %w", err)
		}
		key, err := wgtypes.ParseKey(s)
		if err != nil {
			return fmt.Errorf("private key %s: %w", d.cfg.PrivateKeyFile, err)
		}
		cfg.PrivateKey = &key
	}
	if d.cfg.ListenPort != 0 {
		cfg.ListenPort = &d.cfg.ListenPort
	}
	if cfg.PrivateKey == nil && cfg.ListenPort == nil {
		return nil
	}
	if err := d.device.ConfigureDevice(d.cfg.Interface, cfg); err != nil {
		return fmt.Errorf("configure %s: %w", d.cfg.Interface, err)
	}
	return nil
}

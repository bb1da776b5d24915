package gateway

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
)

// With -keep-unmanaged, the pools decide which peers of the interface the
// daemon manages: a peer with no address in them stays. The pools come
// with the feed, so a feed that claimed other pools could make a revoked
// (or, after a restart, an expired) device look unmanaged and keep it. The
// managed pools therefore only grow: every pool the feed ever named is
// pinned in <state dir>/<gateway>.pools and stays managed. A pool the
// operator really retires stays managed too, which only removes peers.

// poolsFile is where the managed pools are pinned.
func (c *Config) poolsFile() string {
	return filepath.Join(c.StateDir, c.Gateway+".pools")
}

// unionPools returns have with the prefixes of seen that it does not cover
// yet, sorted.
func unionPools(have, seen []netip.Prefix) []netip.Prefix {
	out := append([]netip.Prefix(nil), have...)
	for _, p := range seen {
		if !inPools([]netip.Prefix{p}, out) {
			out = append(out, p)
		}
	}
	return sortPrefixes(out)
}

// loadManagedPools reads the pinned pools (with -keep-unmanaged).
func (d *Daemon) loadManagedPools() error {
	if !d.cfg.KeepUnmanaged {
		return nil
	}
	b, err := os.ReadFile(d.cfg.poolsFile())
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("managed pools: %w", err)
	}
	var pools []netip.Prefix
	for _, line := range strings.Fields(string(b)) {
		p, err := netip.ParsePrefix(line)
		if err != nil {
			return fmt.Errorf("managed pools %s: %w", d.cfg.poolsFile(), err)
		}
		pools = append(pools, p.Masked())
	}
	d.managed = unionPools(nil, pools)
	return nil
}

// pinPools adds the pools of a feed answer to the managed ones.
func (d *Daemon) pinPools(seen []netip.Prefix) {
	merged := unionPools(d.managed, seen)
	if len(merged) == len(d.managed) {
		return
	}
	var b strings.Builder
	for _, p := range merged {
		b.WriteString(p.String() + "\n")
	}
	if err := writeAtomic(d.cfg.poolsFile(), b.String()); err != nil {
		d.logger.Error("pinning the managed pools failed; managing them until the daemon stops", "error", err)
	}
	d.logger.Info("managing address pools", "pools", merged)
	d.managed = merged
}

// anyInPools reports whether any prefix lies in one of pools.
func anyInPools(ips, pools []netip.Prefix) bool {
	for _, ip := range ips {
		if inPools([]netip.Prefix{ip}, pools) {
			return true
		}
	}
	return false
}

package ippool

import (
	"errors"
	"fmt"
	"math/big"
	"math/bits"
	"net/netip"
)

// ErrExhausted is returned by Allocate when no address is free.
var ErrExhausted = errors.New("address pool exhausted")

// maxHostBits caps how much of a large prefix (an IPv6 /64, say) a pool
// uses: the first 2^32 host offsets, far more than any gateway serves.
const maxHostBits = 32

// A Pool allocates addresses of one family from a list of prefixes. It is not
// safe for concurrent use; callers hold their own lock.
type Pool struct {
	ranges []hostRange
	used   map[uint64]uint64 // word index → bitmap of offsets in use
	free   uint64            // addresses not in use
	cursor uint64            // word where the last allocation was found
}

// hostRange is one prefix mapped onto a contiguous span of the pool's
// offset space, starting at base.
type hostRange struct {
	prefix netip.Prefix
	base   uint64
	size   uint64
}

// New returns a pool over prefixes (all of one address family), with the
// reserved addresses already marked in use.
func New(prefixes []netip.Prefix, reserved []netip.Addr) (*Pool, error) {
	p := &Pool{used: make(map[uint64]uint64)}
	var total uint64
	for _, pfx := range prefixes {
		pfx = pfx.Masked()
		if len(p.ranges) > 0 && pfx.Addr().Is4() != p.ranges[0].prefix.Addr().Is4() {
			return nil, fmt.Errorf("prefix %s: pools of one family only", pfx)
		}
		for _, r := range p.ranges {
			if r.prefix.Overlaps(pfx) {
				return nil, fmt.Errorf("prefix %s overlaps %s", pfx, r.prefix)
			}
		}
		hostBits := min(pfx.Addr().BitLen()-pfx.Bits(), maxHostBits)
		size := uint64(1) << hostBits
		p.ranges = append(p.ranges, hostRange{prefix: pfx, base: total, size: size})
		total += size
	}
	p.free = total
	for _, r := range p.ranges {
		p.reserve(r.base) // IPv4 network address, IPv6 subnet-router anycast
		if r.prefix.Addr().Is4() && r.size > 2 {
			p.reserve(r.base + r.size - 1) // broadcast
		}
	}
	for _, a := range reserved {
		if off, ok := p.offset(a); ok {
			p.reserve(off)
		}
	}
	return p, nil
}

// Free reports how many addresses are left.
func (p *Pool) Free() uint64 { return p.free }

// Contains reports whether a lies in one of the pool's prefixes.
func (p *Pool) Contains(a netip.Addr) bool {
	_, ok := p.offset(a)
	return ok
}

// Allocate returns the lowest free address at or after the last one found,
// wrapping around, and marks it in use.
func (p *Pool) Allocate() (netip.Addr, error) {
	if p.free == 0 {
		return netip.Addr{}, ErrExhausted
	}
	words := (p.total() + 63) / 64
	for i := uint64(0); i < words; i++ {
		w := (p.cursor + i) % words
		bitmap := p.used[w]
		if bitmap == ^uint64(0) {
			continue
		}
		off := w*64 + uint64(bits.TrailingZeros64(^bitmap))
		if off >= p.total() {
			continue
		}
		p.reserve(off)
		p.cursor = w
		return p.addr(off), nil
	}
	return netip.Addr{}, ErrExhausted
}

// Claim marks a as in use. It reports false when a is outside the pool or
// already in use.
func (p *Pool) Claim(a netip.Addr) bool {
	off, ok := p.offset(a)
	if !ok || p.inUse(off) {
		return false
	}
	p.reserve(off)
	return true
}

// Release returns a to the pool. Addresses outside the pool are ignored.
func (p *Pool) Release(a netip.Addr) {
	off, ok := p.offset(a)
	if !ok || !p.inUse(off) {
		return
	}
	w := off / 64
	p.used[w] &^= 1 << (off % 64)
	if p.used[w] == 0 {
		delete(p.used, w)
	}
	p.free++
}

func (p *Pool) total() uint64 {
	if len(p.ranges) == 0 {
		return 0
	}
	last := p.ranges[len(p.ranges)-1]
	return last.base + last.size
}

func (p *Pool) inUse(off uint64) bool {
	return p.used[off/64]&(1<<(off%64)) != 0
}

func (p *Pool) reserve(off uint64) {
	if p.inUse(off) {
		return
	}
	p.used[off/64] |= 1 << (off % 64)
	p.free--
}

// offset maps an address to its offset in the pool.
func (p *Pool) offset(a netip.Addr) (uint64, bool) {
	a = a.Unmap()
	for _, r := range p.ranges {
		if !r.prefix.Contains(a) {
			continue
		}
		host := new(big.Int).Sub(addrInt(a), addrInt(r.prefix.Addr()))
		if !host.IsUint64() || host.Uint64() >= r.size {
			return 0, false
		}
		return r.base + host.Uint64(), true
	}
	return 0, false
}

// addr maps an offset back to its address.
func (p *Pool) addr(off uint64) netip.Addr {
	for _, r := range p.ranges {
		if off < r.base+r.size {
			n := new(big.Int).Add(addrInt(r.prefix.Addr()), new(big.Int).SetUint64(off-r.base))
			return intAddr(n, r.prefix.Addr().Is4())
		}
	}
	panic("ippool: offset out of range")
}

func addrInt(a netip.Addr) *big.Int {
	b := a.AsSlice()
	return new(big.Int).SetBytes(b)
}

func intAddr(n *big.Int, v4 bool) netip.Addr {
	if v4 {
		var b [4]byte
		n.FillBytes(b[:])
		return netip.AddrFrom4(b)
	}
	var b [16]byte
	n.FillBytes(b[:])
	return netip.AddrFrom16(b)
}

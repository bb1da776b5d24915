package firewall

import (
	"encoding/binary"
	"net"
	"net/netip"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/wireguard-vault/vault-plugin-secrets-wireguard/backend/wgpolicy"
)

// The expressions of the table's rules, built without touching the
// kernel.

// ctEstablished accepts replies to flows that were allowed:
// ct state established,related accept.
func ctEstablished() []expr.Any {
	mask := binary.NativeEndian.AppendUint32(nil, expr.CtStateBitESTABLISHED|expr.CtStateBitRELATED)
	return []expr.Any{
		&expr.Ct{Register: 1, Key: expr.CtKeySTATE},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: mask, Xor: []byte{0, 0, 0, 0}},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: []byte{0, 0, 0, 0}},
		&expr.Verdict{Kind: expr.VerdictAccept},
	}
}

// ifname is an interface name as the kernel compares it.
func ifname(n string) []byte {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, n)
	return b
}

// dispatch sends what enters from iface with a source address of the
// family of set to the rule set the map names for it:
// iifname IFACE meta nfproto ipv4 ip saddr vmap @peers4.
func dispatch(iface string, set *nftables.Set, v6 bool) []expr.Any {
	proto, off, n := byte(unix.NFPROTO_IPV4), uint32(12), uint32(4)
	if v6 {
		proto, off, n = unix.NFPROTO_IPV6, 8, 16
	}
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifname(iface)},
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: n},
		&expr.Lookup{SourceRegister: 1, SetName: set.Name, SetID: set.ID, DestRegister: 0, IsDestRegSet: true},
	}
}

// allow accepts what goes to d: the prefix, then the protocol and ports.
func allow(d wgpolicy.Destination) []expr.Any {
	v6 := d.Prefix.Addr().Is6()
	proto, off, n := byte(unix.NFPROTO_IPV4), uint32(16), 4
	if v6 {
		proto, off, n = unix.NFPROTO_IPV6, 24, 16
	}
	mask := net.CIDRMask(d.Prefix.Bits(), n*8)
	out := []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: uint32(n)},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: uint32(n), Mask: mask, Xor: make([]byte, n)},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: d.Prefix.Masked().Addr().AsSlice()},
	}
	l4 := func(p byte) []expr.Any {
		return []expr.Any{
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{p}},
		}
	}
	switch d.Proto {
	case wgpolicy.ProtoTCP, wgpolicy.ProtoUDP:
		p := byte(unix.IPPROTO_TCP)
		if d.Proto == wgpolicy.ProtoUDP {
			p = unix.IPPROTO_UDP
		}
		out = append(out, l4(p)...)
		out = append(out, &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2})
		lo, hi := binary.BigEndian.AppendUint16(nil, d.PortLo), binary.BigEndian.AppendUint16(nil, d.PortHi)
		if d.PortLo == d.PortHi {
			out = append(out, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: lo})
		} else {
			out = append(out, &expr.Range{Op: expr.CmpOpEq, Register: 1, FromData: lo, ToData: hi})
		}
	case wgpolicy.ProtoICMP:
		p := byte(unix.IPPROTO_ICMP)
		if v6 {
			p = unix.IPPROTO_ICMPV6
		}
		out = append(out, l4(p)...)
	}
	return append(out, &expr.Verdict{Kind: expr.VerdictAccept})
}

// dropCounted counts in the rule set's counter and drops.
func dropCounted(id string) []expr.Any {
	return []expr.Any{
		&expr.Objref{Type: int(nftables.ObjTypeCounter), Name: counterName(id)},
		&expr.Verdict{Kind: expr.VerdictDrop},
	}
}

// addrKey is an address as a map key of its family.
func addrKey(a netip.Addr) []byte { return a.AsSlice() }

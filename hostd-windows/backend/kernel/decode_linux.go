package kernel

import (
	"encoding/binary"
	"errors"
	"net/netip"

	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/wslfwd/wslfwd/hostd-windows/backend"
)

// errShape: a rule in the forwards chain is not of the shape ruleExprs
// writes (someone edited the table by hand).
var errShape = errors.New("not a forward rule of wslfwd's shape")

// decoder reads a rule's expressions back into the forward they carry,
// tracking what each comparison compares.
type decoder struct {
	loaded         string // what register 1 holds: "nfproto", "l4proto", "daddr", "local", "dport"
	fam, proto     byte
	daddr          netip.Addr
	local          bool
	dport, tport   uint16
	taddr          netip.Addr
	nat, seenTPort bool
}

// decode returns the forward a rule of the forwards chain carries. It is
// the read-back every change is judged by: it trusts nothing but the
// expressions the kernel returns.
func decode(ex []expr.Any) (backend.Entry, error) {
	var d decoder
	for _, x := range ex {
		if !d.step(x) {
			return backend.Entry{}, errShape
		}
	}
	return d.entry()
}

// step takes one expression; false means an expression ruleExprs never
// writes.
func (d *decoder) step(x expr.Any) bool {
	switch x := x.(type) {
	case *expr.Meta:
		d.loaded = map[expr.MetaKey]string{expr.MetaKeyNFPROTO: "nfproto", expr.MetaKeyL4PROTO: "l4proto"}[x.Key]
		return d.loaded != "" && x.Register == 1
	case *expr.Fib:
		d.loaded = "local"
		return x.FlagDADDR && x.ResultADDRTYPE && !x.FlagSADDR && x.Register == 1
	case *expr.Payload:
		return d.payload(x)
	case *expr.Cmp:
		return x.Op == expr.CmpOpEq && x.Register == 1 && d.compare(x.Data)
	case *expr.Immediate:
		return d.immediate(x)
	case *expr.NAT:
		d.nat = x.Type == expr.NATTypeDestNAT && uint32(d.fam) == x.Family &&
			x.RegAddrMin == regAddr && x.RegProtoMin == regPort &&
			(x.RegAddrMax == 0 || x.RegAddrMax == regAddr) && (x.RegProtoMax == 0 || x.RegProtoMax == regPort)
		return d.nat
	}
	return false
}

func (d *decoder) payload(x *expr.Payload) bool {
	if x.DestRegister != 1 {
		return false
	}
	switch {
	case x.Base == expr.PayloadBaseTransportHeader && x.Offset == l4Dport && x.Len == 2:
		d.loaded = "dport"
	case x.Base == expr.PayloadBaseNetworkHeader && d.fam == unix.NFPROTO_IPV4 && x.Offset == ip4Daddr && x.Len == 4,
		x.Base == expr.PayloadBaseNetworkHeader && d.fam == unix.NFPROTO_IPV6 && x.Offset == ip6Daddr && x.Len == 16:
		d.loaded = "daddr"
	default:
		return false
	}
	return true
}

func (d *decoder) compare(data []byte) bool {
	switch d.loaded {
	case "nfproto":
		if len(data) != 1 {
			return false
		}
		d.fam = data[0]
		return d.fam == unix.NFPROTO_IPV4 || d.fam == unix.NFPROTO_IPV6
	case "l4proto":
		if len(data) != 1 {
			return false
		}
		d.proto = data[0]
		return true
	case "daddr":
		var ok bool
		d.daddr, ok = netip.AddrFromSlice(data)
		return ok
	case "local":
		d.local = len(data) == 4 && binaryutil.NativeEndian.Uint32(data) == unix.RTN_LOCAL
		return d.local
	case "dport":
		if len(data) != 2 {
			return false
		}
		d.dport = binary.BigEndian.Uint16(data)
		return d.dport != 0
	}
	return false
}

func (d *decoder) immediate(x *expr.Immediate) bool {
	switch x.Register {
	case regAddr:
		var ok bool
		d.taddr, ok = netip.AddrFromSlice(x.Data)
		return ok
	case regPort:
		if len(x.Data) != 2 {
			return false
		}
		d.tport, d.seenTPort = binary.BigEndian.Uint16(x.Data), true
		return true
	}
	return false
}

// entry is the forward once every expression is taken.
func (d *decoder) entry() (backend.Entry, error) {
	listen := d.daddr
	if d.local && !listen.IsValid() {
		listen = netip.IPv4Unspecified()
		if d.fam == unix.NFPROTO_IPV6 {
			listen = netip.IPv6Unspecified()
		}
	}
	proto := map[byte]backend.Protocol{unix.IPPROTO_TCP: backend.TCP, unix.IPPROTO_UDP: backend.UDP}[d.proto]
	if !d.nat || proto == "" || !listen.IsValid() || d.local == d.daddr.IsValid() || !d.taddr.IsValid() ||
		!d.seenTPort || d.dport == 0 || family(listen) != d.fam || family(d.taddr) != d.fam {
		return backend.Entry{}, errShape
	}
	return backend.Entry{Protocol: proto, Listen: netip.AddrPortFrom(listen, d.dport), Connect: netip.AddrPortFrom(d.taddr, d.tport)}, nil
}

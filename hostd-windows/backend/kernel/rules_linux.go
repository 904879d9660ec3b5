package kernel

import (
	"encoding/binary"
	"net/netip"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/wslfwd/wslfwd/hostd-windows/backend"
)

// TableName is the nftables table (family inet) the backend owns.
const TableName = "wslfwd"

// forwardsChain holds one rule per forward; the base chains jump to it.
const forwardsChain = "forwards"

// Registers the rules load into: the address and port of a DNAT target
// must sit in two registers the nat expression names.
const (
	regAddr = 1
	regPort = 2
)

// Offsets of the fields the rules match, in the network and transport
// headers.
const (
	ip4Saddr, ip4Daddr = 12, 16
	ip6Saddr, ip6Daddr = 8, 24
	l4Dport            = 2
)

// tables is the one table the backend reads and writes.
var table = &nftables.Table{Family: nftables.TableFamilyINet, Name: TableName}

// baseChains are the table's two entry points: packets from other
// machines (prerouting) and from this host (output), each turned to a
// forward's target before routing decides where they go.
func baseChains() []*nftables.Chain {
	mk := func(name string, hook *nftables.ChainHook) *nftables.Chain {
		return &nftables.Chain{Name: name, Table: table, Type: nftables.ChainTypeNAT,
			Hooknum: hook, Priority: nftables.ChainPriorityNATDest}
	}
	return []*nftables.Chain{mk("prerouting", nftables.ChainHookPrerouting), mk("output", nftables.ChainHookOutput)}
}

// forwards is the regular chain of the forwards' rules.
var forwards = &nftables.Chain{Name: forwardsChain, Table: table}

// jumps are the rules of a base chain. Prerouting jumps for every packet;
// output skips packets from loopback (see the package comment).
func jumps(c *nftables.Chain) [][]expr.Any {
	jump := &expr.Verdict{Kind: expr.VerdictJump, Chain: forwardsChain}
	if *c.Hooknum != *nftables.ChainHookOutput {
		return [][]expr.Any{{jump}}
	}
	return [][]expr.Any{
		append(nfproto(unix.NFPROTO_IPV4),
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: ip4Saddr, Len: 4},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: []byte{255, 0, 0, 0}, Xor: []byte{0, 0, 0, 0}},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: []byte{127, 0, 0, 0}},
			jump),
		append(nfproto(unix.NFPROTO_IPV6),
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: ip6Saddr, Len: 16},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: netip.IPv6Loopback().AsSlice()},
			jump),
	}
}

func nfproto(fam byte) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{fam}},
	}
}

// family is the netfilter family of an address.
func family(a netip.Addr) byte {
	if a.Is4() {
		return unix.NFPROTO_IPV4
	}
	return unix.NFPROTO_IPV6
}

// l4proto is the IP protocol number of a backend protocol.
func l4proto(p backend.Protocol) byte {
	if p == backend.UDP {
		return unix.IPPROTO_UDP
	}
	return unix.IPPROTO_TCP
}

// ruleExprs is the rule of one forward (checked by checkEntry first).
func ruleExprs(e backend.Entry) []expr.Any {
	fam := family(e.Listen.Addr())
	ex := append(nfproto(fam),
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{l4proto(e.Protocol)}})
	if a := e.Listen.Addr(); a.IsUnspecified() {
		ex = append(ex,
			&expr.Fib{Register: 1, FlagDADDR: true, ResultADDRTYPE: true},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(unix.RTN_LOCAL)})
	} else {
		off := uint32(ip4Daddr)
		if fam == unix.NFPROTO_IPV6 {
			off = ip6Daddr
		}
		ex = append(ex,
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: uint32(a.BitLen() / 8)},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: a.AsSlice()})
	}
	return append(ex,
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: l4Dport, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: port(e.Listen.Port())},
		&expr.Immediate{Register: regAddr, Data: e.Connect.Addr().AsSlice()},
		&expr.Immediate{Register: regPort, Data: port(e.Connect.Port())},
		&expr.NAT{Type: expr.NATTypeDestNAT, Family: uint32(fam), RegAddrMin: regAddr, RegProtoMin: regPort, Specified: true})
}

// port is a port as the packet carries it, big endian.
func port(p uint16) []byte { return binary.BigEndian.AppendUint16(nil, p) }

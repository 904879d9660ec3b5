//go:build linux

package e2e

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"testing"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/wslfwd/wslfwd/hostd-windows/backend/kernel"
	"github.com/wslfwd/wslfwd/lab/netlab"
)

// userTable is a user's own nat table beside wslfwd's.
var userTable = &nftables.Table{Family: nftables.TableFamilyINet, Name: "e2e-user"}

// Ports of the rules a user made: userPort's in userTable, handPort's by
// hand in wslfwd's own forwards chain, shaped as the daemon writes its
// rules (a user's portproxy entry, as it were).
const (
	userPort = 9298
	handPort = 9297
)

// addForeignRules makes, in ns, userTable with a DNAT rule at prerouting
// and a hand-made DNAT rule in wslfwd's table (which the daemon has
// made), and returns foreignState.
func addForeignRules(t *testing.T, ns *netlab.NS) []string {
	t.Helper()
	err := ns.Do(func() error {
		c, err := nftables.New()
		if err != nil {
			return err
		}
		c.AddTable(userTable)
		ch := c.AddChain(&nftables.Chain{Name: "prerouting", Table: userTable, Type: nftables.ChainTypeNAT,
			Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityNATDest})
		c.AddRule(&nftables.Rule{Table: userTable, Chain: ch, Exprs: dnatExprs(userPort)})
		wslfwd := &nftables.Table{Family: nftables.TableFamilyINet, Name: kernel.TableName}
		c.AddRule(&nftables.Rule{Table: wslfwd, Chain: &nftables.Chain{Name: "forwards", Table: wslfwd}, Exprs: dnatExprs(handPort)})
		return c.Flush()
	})
	if err != nil {
		t.Fatalf("make the user's nftables rules in %s: %v", ns.Name, err)
	}
	st := foreignState(t, ns)
	if len(st) != 3 {
		t.Fatalf("the user's nftables rules read back as %q; want a chain, its rule and the hand-made rule", st)
	}
	return st
}

// dnatExprs is `ip daddr <host's LAN address> tcp dport port dnat ip to
// <wsl>:port`.
func dnatExprs(port uint16) []expr.Any {
	be := binary.BigEndian.AppendUint16(nil, port)
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.NFPROTO_IPV4}},
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_TCP}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: netlab.HostLANAddr.Addr().AsSlice()},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: be},
		&expr.Immediate{Register: 1, Data: wslAddr.AsSlice()},
		&expr.Immediate{Register: 2, Data: be},
		&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1, RegProtoMin: 2, Specified: true},
	}
}

// foreignState renders, from ns's kernel, userTable's chains and rules
// and the hand-made rule in wslfwd's table, each with its handle.
func foreignState(t *testing.T, ns *netlab.NS) []string {
	t.Helper()
	var out []string
	err := ns.Do(func() error {
		c, err := nftables.New()
		if err != nil {
			return err
		}
		chains, err := c.ListChainsOfTableFamily(userTable.Family)
		if err != nil {
			return err
		}
		for _, ch := range chains {
			if ch.Table.Name != userTable.Name {
				continue
			}
			rs, err := c.GetRules(userTable, ch)
			if err != nil {
				return err
			}
			out = append(out, fmt.Sprintf("chain %s hook=%d prio=%d type=%s", ch.Name, *ch.Hooknum, *ch.Priority, ch.Type))
			for _, r := range rs {
				out = append(out, fmt.Sprintf("  rule %d %s", r.Handle, exprText(r.Exprs)))
			}
		}
		rs, err := kernel.ReadRules()
		for _, r := range rs {
			if r.Entry.Listen == netip.AddrPortFrom(netlab.HostLANAddr.Addr(), handPort) {
				out = append(out, fmt.Sprintf("wslfwd rule %d %s", r.Handle, r.Entry))
			}
		}
		return err
	})
	if err != nil {
		t.Fatalf("read nftables in %s: %v", ns.Name, err)
	}
	return out
}

func exprText(ex []expr.Any) string {
	var s string
	for _, x := range ex {
		s += fmt.Sprintf("%T%+v ", x, x)
	}
	return s
}

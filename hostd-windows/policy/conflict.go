package policy

import (
	"cmp"
	"fmt"
	"net/netip"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/hostd-windows/backend"
	"github.com/wslfwd/wslfwd/hostd-windows/wire"
)

// portKey groups wants that may collide: same protocol and host port.
type portKey struct {
	protocol backend.Protocol
	port     uint16
}

// resolveConflicts walks the decisions in rank order and turns every want
// whose host side overlaps an earlier want with a different target into a
// CONFLICT naming the earlier one. A want of the very forward an earlier
// one wants is Carried by it: one forward, listed once by 'forwards'
// under the higher-ranked wish (a static over a listener).
func resolveConflicts(ds []Decision) {
	taken := make(map[portKey][]int, len(ds)) // indexes of accepted wants
	for i := range ds {
		d := &ds[i]
		if !d.Want {
			continue
		}
		k := portKey{d.Entry.Protocol, d.Entry.Listen.Port()}
		winner := -1
		for _, j := range taken[k] {
			if overlap(ds[j].Entry.Listen.Addr(), d.Entry.Listen.Addr()) {
				winner = j
				break
			}
		}
		if winner < 0 {
			taken[k] = append(taken[k], i)
			continue
		}
		w := &ds[winner]
		d.Want = false
		if w.Entry == d.Entry {
			d.Carried = true
			d.Reason = "forwarded by " + w.describe()
			continue
		}
		d.State = wslfwdv1.ForwardState_FORWARD_STATE_CONFLICT
		d.Reason = fmt.Sprintf("host %s is already wanted by %s (to %s)", d.Entry.Key(), w.describe(), w.Entry.Connect)
	}
}

// overlap reports whether two host addresses of one port collide: equal, or
// one is the any address of the other's family.
func overlap(a, b netip.Addr) bool {
	if a.Is4() != b.Is4() {
		return false
	}
	return a == b || a.IsUnspecified() || b.IsUnspecified()
}

// describe names the wish behind a decision, for conflict reasons.
func (d *Decision) describe() string {
	if l := d.Listener; l != nil {
		s := fmt.Sprintf("%s's listener on %s", d.Distro, netip.AddrPortFrom(parseOr(l.GetListen()), uint16(l.GetPort())))
		if l.GetProcessName() != "" || l.GetPid() != 0 {
			s += fmt.Sprintf(" (%s, pid %d)", l.GetProcessName(), l.GetPid())
		}
		return s
	}
	kind := "static forward"
	if d.Origin == wslfwdv1.ForwardOrigin_FORWARD_ORIGIN_CONFIG {
		kind = "config forward"
	}
	return fmt.Sprintf("the %s to %s port %d", kind, d.Distro, d.Entry.Connect.Port())
}

func parseOr(s string) netip.Addr {
	a, _ := netip.ParseAddr(s)
	return a
}

// compareDecisions is the output order: protocol, host port, host address,
// then where the wish comes from.
func compareDecisions(a, b Decision) int {
	ap, aport, aaddr := a.hostSide()
	bp, bport, baddr := b.hostSide()
	if c := cmp.Or(cmp.Compare(ap, bp), cmp.Compare(aport, bport), aaddr.Compare(baddr)); c != 0 {
		return c // the common case: no ties to break
	}
	return cmp.Or(
		cmp.Compare(a.Origin, b.Origin),
		cmp.Compare(a.Distro, b.Distro),
		cmp.Compare(a.AgentID, b.AgentID),
		wire.CompareListeners(a.Listener, b.Listener),
		a.Entry.Connect.Compare(b.Entry.Connect),
	)
}

// hostSide is the decision's host protocol, port and address, falling back
// to the listener's own when no entry is known.
func (d Decision) hostSide() (backend.Protocol, uint16, netip.Addr) {
	if d.Entry.Listen.IsValid() {
		return d.Entry.Protocol, d.Entry.Listen.Port(), d.Entry.Listen.Addr()
	}
	if l := d.Listener; l != nil {
		p, _ := wire.ProtocolFromProto(l.GetProtocol())
		return p, uint16(l.GetPort()), netip.Addr{}
	}
	return "", 0, netip.Addr{}
}

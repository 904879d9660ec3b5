package policy

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/hostd-windows/wire"
)

// All WSL2 distros share one network namespace, so every agent reports the
// same sockets. This file gives each socket one owner (see the package
// doc) before anything is decided about it.

// rankAgents orders agents by connection time, then ID: the earlier agent
// owns a socket nobody can attribute to a process, and its wants win.
func rankAgents(in []Agent) []*Agent {
	out := make([]*Agent, len(in))
	for i := range in {
		out[i] = &in[i]
	}
	slices.SortStableFunc(out, func(a, b *Agent) int {
		return cmp.Or(a.ConnectedAt.Compare(b.ConnectedAt), cmp.Compare(a.ID, b.ID))
	})
	return out
}

type owned struct {
	agent *Agent
	rank  int
	l     *wslfwdv1.Listener
}

// socketKey identifies a socket in a shared namespace.
type socketKey struct {
	ns       string // the namespace: nsOf its agent
	protocol wslfwdv1.Protocol
	listen   string
	port     uint32
	inode    uint64
}

// nsOf names the network namespace an agent's sockets are in, as far as
// its connection proves: agents of one mode whose forwards go to the same
// targets (NAT mode: whose connections come from the same VM address)
// share it. An agent elsewhere that reports another's socket (a guessed
// inode) reports a socket of its own, which cannot take the other over.
func nsOf(a *Agent) string {
	return fmt.Sprint(a.Mode, a.Targets)
}

// sockets de-duplicates the agents' listeners: one owner per socket, in
// rank order (owner's rank, then the listener's own order).
func (d *decider) sockets() []owned {
	n := 0
	for _, a := range d.agents {
		n += len(a.Listeners)
	}
	byKey := make(map[socketKey]int, n)
	out := make([]owned, 0, n)
	for rank, a := range d.agents {
		ns := nsOf(a)
		for _, l := range a.Listeners {
			if l == nil || !d.includes(uint16(l.GetPort())) {
				continue
			}
			listen := l.GetListen()
			if addr, err := netip.ParseAddr(listen); err == nil {
				listen = addr.String()
			}
			k := socketKey{ns, l.GetProtocol(), listen, l.GetPort(), l.GetInode()}
			o := owned{a, rank, l}
			i, seen := byKey[k]
			if !seen {
				byKey[k] = len(out)
				out = append(out, o)
				continue
			}
			// Agents come in rank order: a later agent takes over only
			// when it sees the process and the current owner does not.
			if l.GetPid() != 0 && out[i].l.GetPid() == 0 {
				out[i] = o
			}
		}
	}
	slices.SortStableFunc(out, func(a, b owned) int {
		return cmp.Or(cmp.Compare(a.rank, b.rank), wire.CompareListeners(a.l, b.l))
	})
	return out
}

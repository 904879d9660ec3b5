package agents

import (
	"container/list"
	"net/netip"
	"slices"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/hostd-windows/wire"
)

// The VM cap. All distros of a WSL2 VM share one network namespace, so a
// real VM never has more distinct listening ports than one agent may
// report (MaxListeners); but the per-agent limit alone let a token holder
// register many made-up distros, each claiming MaxListeners ports of its
// own, and have the daemon forward nearly every host port. So the
// registry counts, per source (Source: all of loopback is one, the whole
// WSL VM another), the distinct (protocol, port) pairs its agents report,
// and admits at most MaxPortsPerSource of them. A listener on a port past
// the cap is held, like any other, and handed to the engine in
// Agent.Capped: the policy lists it as blocked, with the reason, and the
// agent is told so. It is forwarded once a port of the source frees.
//
// Why here and not in the policy: the registry sees each listener come and
// go, in the order the agents sent them, so it keeps the count exact at
// the cost of what a message changes, and the engine's steps stay
// incremental: a port that gains its place shows as a change of the
// agents' Capped lists, which the engine diffs like their listeners.
// A policy cap would need the whole table at every step to count.
//
// Which ports lose is decided once, at arrival, and never changes while
// they are held: an admitted port stays admitted as long as any agent of
// the source reports a listener on it (a port already forwarded is never
// displaced by a newer one), and freed places go to the ports that have
// waited longest. Listeners blocked for other reasons (bound to loopback,
// denied) count too: the cap bounds what a VM may claim, and a real VM's
// claims fit.

// portKey is what the cap counts: a protocol and a port in the distro.
type portKey struct {
	protocol wslfwdv1.Protocol
	port     uint32
}

func keyOf(l *wslfwdv1.Listener) portKey { return portKey{l.GetProtocol(), l.GetPort()} }

// waiter is a port over its source's cap, and how many listeners of the
// source's agents are on it.
type waiter struct {
	key portKey
	n   int
}

// sourcePorts is the count of one source.
type sourcePorts struct {
	admitted map[portKey]int           // listeners on each admitted port
	waiting  map[portKey]*list.Element // of queue
	queue    list.List                 // of *waiter, longest waiting first
}

// portCap counts the ports of every source. Guarded by the registry's
// mutex.
type portCap struct {
	max     int // 0: no cap
	sources map[netip.Addr]*sourcePorts
}

func newPortCap(limit int) portCap {
	return portCap{max: limit, sources: make(map[netip.Addr]*sourcePorts)}
}

// add counts l for src: on an admitted port; on a new one, admitted while
// src has room; else waiting, behind the ports that wait already.
func (c *portCap) add(src netip.Addr, l *wslfwdv1.Listener) {
	if c.max <= 0 {
		return
	}
	sp := c.sources[src]
	if sp == nil {
		sp = &sourcePorts{admitted: make(map[portKey]int), waiting: make(map[portKey]*list.Element)}
		c.sources[src] = sp
	}
	k := keyOf(l)
	switch el, waits := sp.waiting[k]; {
	case sp.admitted[k] > 0 || len(sp.admitted) < c.max && !waits:
		sp.admitted[k]++
	case waits:
		el.Value.(*waiter).n++
	default:
		sp.waiting[k] = sp.queue.PushBack(&waiter{key: k, n: 1})
	}
}

// remove stops counting l for src. A port whose last listener goes frees
// its place, which promote then gives.
func (c *portCap) remove(src netip.Addr, l *wslfwdv1.Listener) {
	sp := c.sources[src]
	if sp == nil {
		return
	}
	k := keyOf(l)
	if n, ok := sp.admitted[k]; ok {
		if n <= 1 {
			delete(sp.admitted, k)
		} else {
			sp.admitted[k] = n - 1
		}
	} else if el, ok := sp.waiting[k]; ok {
		if w := el.Value.(*waiter); w.n > 1 {
			w.n--
		} else {
			sp.queue.Remove(el)
			delete(sp.waiting, k)
		}
	}
	if len(sp.admitted) == 0 && len(sp.waiting) == 0 {
		delete(c.sources, src)
	}
}

// promote admits the ports of src that waited longest into its free
// places and returns them.
func (c *portCap) promote(src netip.Addr) map[portKey]bool {
	sp := c.sources[src]
	if sp == nil {
		return nil
	}
	var out map[portKey]bool
	for len(sp.admitted) < c.max && sp.queue.Len() > 0 {
		w := sp.queue.Remove(sp.queue.Front()).(*waiter)
		delete(sp.waiting, w.key)
		sp.admitted[w.key] = w.n
		if out == nil {
			out = make(map[portKey]bool)
		}
		out[w.key] = true
	}
	return out
}

// source is the source s counts against.
func (s *Session) source() netip.Addr { return Source(s.Peer, s.Local) }

// over reports whether l's port waits, over the cap of src.
func (c *portCap) over(src netip.Addr, l *wslfwdv1.Listener) bool {
	sp := c.sources[src]
	if sp == nil {
		return false
	}
	_, waits := sp.waiting[keyOf(l)]
	return waits
}

// recount moves the count from gone (e's listeners before a change, of
// the source from) to added (after it, of e's source), gives freed
// places to the ports that waited longest, and updates the Capped lists
// of every agent of the sources involved. Listeners a change kept are in
// neither (a snapshot lets go of all the old and adds all the new).
// Added listeners are counted before gone ones are let go, so a port that
// an agent reports again keeps its place. Called with r.mu held.
func (r *Registry) recount(e *entry, from netip.Addr, added, gone []*wslfwdv1.Listener) {
	if r.cap.max <= 0 || len(added) == 0 && len(gone) == 0 {
		return
	}
	src := e.session.source()
	for _, l := range added {
		r.cap.add(src, l)
	}
	for _, l := range gone {
		r.cap.remove(from, l)
	}
	if len(e.capped) > 0 || slices.ContainsFunc(added, func(l *wslfwdv1.Listener) bool { return r.cap.over(src, l) }) {
		e.capped = e.recap(added, gone, func(l *wslfwdv1.Listener) bool { return r.cap.over(src, l) })
	}
	r.admit(src, r.cap.promote(src))
	if from != src {
		r.admit(from, r.cap.promote(from))
	}
}

// admit takes the listeners on the ports of src just admitted out of its
// agents' Capped lists. Called with r.mu held.
func (r *Registry) admit(src netip.Addr, ports map[portKey]bool) {
	if len(ports) == 0 {
		return
	}
	for _, e := range r.entries {
		if len(e.capped) > 0 && e.session.source() == src {
			e.capped = slices.DeleteFunc(slices.Clone(e.capped), func(l *wslfwdv1.Listener) bool { return ports[keyOf(l)] })
		}
	}
}

// recap returns e's Capped list after a change that added and let go of
// the given listeners, in e.sorted's order. It makes a new list, never
// changing the one State handed out. Called with r.mu held.
func (e *entry) recap(added, gone []*wslfwdv1.Listener, over func(*wslfwdv1.Listener) bool) []*wslfwdv1.Listener {
	if len(added)+len(gone) > resortPast {
		return slices.DeleteFunc(slices.Clone(e.sorted), func(l *wslfwdv1.Listener) bool { return !over(l) })
	}
	out := slices.Clone(e.capped)
	for _, l := range gone {
		out = without(out, l)
	}
	for _, l := range added {
		if over(l) {
			i, _ := slices.BinarySearchFunc(out, l, wire.CompareListeners)
			out = slices.Insert(out, i, l)
		}
	}
	return out
}

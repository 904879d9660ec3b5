package engine

import (
	"cmp"
	"net/netip"
	"slices"
	"time"

	"google.golang.org/protobuf/proto"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/hostd-windows/agents"
	"github.com/wslfwd/wslfwd/hostd-windows/policy"
	"github.com/wslfwd/wslfwd/hostd-windows/wire"
)

// A step decides again only what its input changed, so that one more
// forward costs the same with 1,000 open as with none: the port groups
// (policy.Groups) of the listeners that came, went or changed. Anything
// else that the policy reads (an agent that came, went, or changed
// session, mode or targets; the static forwards; the holds of a restart)
// and every retry make a full step, which decides everything, lists the
// backend again and rebuilds the table. Those are rare, and the retry
// finds what changed behind wslfwd's back.

// marks are what the engine remembers of the previous step's input, to
// tell what the next one changed. Used by the engine goroutine only.
type marks struct {
	agents  map[string]agentMark // by distro
	statics []policy.Static
	valid   bool // false until a first step: it is full
}

// agentMark is one agent as the previous step saw it.
type agentMark struct {
	id        string
	connected bool
	since     time.Time
	mode      wslfwdv1.NetworkingMode
	targets   []netip.Addr
	listeners []*wslfwdv1.Listener // sorted, as the agents registry gives them
	capped    []*wslfwdv1.Listener // likewise: those over the VM's cap
}

func markOf(a agents.Agent) agentMark {
	return agentMark{a.Session.ID, a.Connected, a.Since, a.Mode, a.Targets, a.Listeners, a.Capped}
}

// sameAgent reports whether two marks differ at most in their listeners.
func (m agentMark) sameAgent(o agentMark) bool {
	return m.id == o.id && m.connected == o.connected && m.since.Equal(o.since) && m.mode == o.mode && slices.Equal(m.targets, o.targets)
}

// touched returns the port groups whose input changed since the previous
// call, or nil when the step must be full: full is set, or anything but
// listeners changed.
func (m *marks) touched(agents []agents.Agent, statics []policy.Static, groups policy.Groups, full bool) map[uint16]bool {
	full = full || !m.valid || len(agents) != len(m.agents) || !slices.Equal(statics, m.statics)
	only := make(map[uint16]bool)
	next := make(map[string]agentMark, len(agents))
	for _, a := range agents {
		cur := markOf(a)
		next[a.Distro] = cur
		old, ok := m.agents[a.Distro]
		if full || !ok || !old.sameAgent(cur) {
			full = true
			continue
		}
		listenersTouched(old.listeners, cur.listeners, groups, only)
		// A port that gains or loses its place under the VM's cap
		// changes only these lists, maybe of an agent whose listeners
		// did not change at all.
		listenersTouched(old.capped, cur.capped, groups, only)
	}
	m.agents, m.statics, m.valid = next, statics, true
	if full {
		return nil
	}
	return only
}

// listenersTouched adds to only the groups of the listeners that differ
// between two lists sorted as the registry sorts them. Listeners the
// registry kept are the same messages, so most compare by pointer.
func listenersTouched(old, cur []*wslfwdv1.Listener, groups policy.Groups, only map[uint16]bool) {
	touch := func(l *wslfwdv1.Listener) { only[groups.Of(uint16(l.GetPort()))] = true }
	i, j := 0, 0
	for i < len(old) || j < len(cur) {
		if i < len(old) && j < len(cur) && old[i] == cur[j] {
			i, j = i+1, j+1 // kept: most of a long list, no need to compare
			continue
		}
		c := 0
		switch {
		case i == len(old):
			c = 1
		case j == len(cur):
			c = -1
		default:
			c = wire.CompareListeners(old[i], cur[j])
		}
		switch {
		case c < 0:
			touch(old[i])
			i++
		case c > 0:
			touch(cur[j])
			j++
		default:
			if !proto.Equal(old[i], cur[j]) {
				touch(cur[j])
			}
			i, j = i+1, j+1
		}
	}
}

// listenersIn returns the listeners of ls, sorted as the registry sorts
// them, that are in the port groups of only, in the same order. It
// searches rather than walks, so a step's cost does not grow with the
// listeners it does not touch.
func listenersIn(ls []*wslfwdv1.Listener, only map[uint16]bool, groups policy.Groups) []*wslfwdv1.Listener {
	var out []*wslfwdv1.Listener
	for g := range only {
		for _, port := range groups.Members(g) {
			for _, p := range []wslfwdv1.Protocol{wslfwdv1.Protocol_PROTOCOL_TCP, wslfwdv1.Protocol_PROTOCOL_UDP} {
				at := func(l *wslfwdv1.Listener) int {
					return cmp.Or(cmp.Compare(l.GetProtocol(), p), cmp.Compare(l.GetPort(), uint32(port)))
				}
				i, _ := slices.BinarySearchFunc(ls, 0, func(l *wslfwdv1.Listener, _ int) int { return at(l) })
				for ; i < len(ls) && at(ls[i]) == 0; i++ {
					out = append(out, ls[i])
				}
			}
		}
	}
	slices.SortFunc(out, wire.CompareListeners)
	return out
}

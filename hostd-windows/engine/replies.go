package engine

import (
	"net"
	"strconv"

	"google.golang.org/protobuf/proto"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/hostd-windows/agents"
	"github.com/wslfwd/wslfwd/internal/statuskey"
)

// An agent is told what became of its listeners only when that is not what
// it can infer. An agent that is told nothing of a listener takes it to be
// forwarded on its own port, as it asked; the daemon tells it of a listener
// that is not (blocked, in conflict, failed, reachable directly, on another
// host port), and of one that is forwarded again after that. So a change
// that goes as asked costs the agent no wake-up at all, and what there is
// to tell goes out once per step, as one message (agents.Session.Reply).

// listenerStatus is what row r says of its agent's listener.
func listenerStatus(r *row) *wslfwdv1.ListenerStatus {
	f := r.fwd
	ls := &wslfwdv1.ListenerStatus{
		Protocol: f.GetProtocol(),
		Listen:   f.GetListenerAddress(),
		Port:     r.listener.GetPort(),
		State:    f.GetState(),
		Reason:   f.GetReason(),
	}
	if f.GetState() == wslfwdv1.ForwardState_FORWARD_STATE_ACTIVE {
		ls.ExposedAt = net.JoinHostPort(f.GetListenAddress(), strconv.Itoa(int(f.GetListenPort())))
	}
	return ls
}

// asAsked reports whether r's listener is forwarded on its own port: what
// an agent told nothing infers.
func asAsked(r *row) bool {
	return r.fwd.GetState() == wslfwdv1.ForwardState_FORWARD_STATE_ACTIVE && r.fwd.GetListenPort() == r.listener.GetPort()
}

// verdict is a listener's row after a step (nil: none) and whether it is
// forwarded as asked.
type verdict struct {
	row   *row
	asked bool
}

// statusUpdates returns, per connected session, the listener statuses to
// send after a step that replaced the rows prev with next (full: the whole
// table, and sessions gone are forgotten). d.sent holds, per session, the
// statuses last sent that the agent cannot infer. Called with d.mu.
func (d *Engine) statusUpdates(sessions map[string]*agents.Session, prev, next map[rowKey]*row, full bool) map[string][]*wslfwdv1.ListenerStatus {
	// The listeners the step touched, each with its row now, if any; a
	// listener forwarded twice (IPv4 and IPv6) is told of a failure of
	// either.
	touched := make(map[string]map[statuskey.Key]*verdict)
	consider := func(r *row, now bool) {
		if r.agentID == "" || r.fwd.GetOrigin() != wslfwdv1.ForwardOrigin_FORWARD_ORIGIN_AGENT || sessions[r.agentID] == nil {
			return
		}
		m := touched[r.agentID]
		if m == nil {
			m = make(map[statuskey.Key]*verdict)
			touched[r.agentID] = m
		}
		k := statuskey.Key{Protocol: r.fwd.GetProtocol(), Listen: r.fwd.GetListenerAddress(), Port: r.listener.GetPort()}
		v := m[k]
		if v == nil {
			v = &verdict{}
			m[k] = v
		}
		if now && (v.row == nil || v.asked && !asAsked(r) || v.asked == asAsked(r) && compareForwards(r.fwd, v.row.fwd) < 0) {
			v.row, v.asked = r, asAsked(r)
		}
	}
	for _, r := range prev {
		consider(r, false)
	}
	for _, r := range next {
		consider(r, true)
	}
	if full {
		for id := range d.sent {
			if sessions[id] == nil {
				delete(d.sent, id)
			}
		}
	}
	out := make(map[string][]*wslfwdv1.ListenerStatus)
	for id, m := range touched {
		sent := d.sent[id]
		if sent == nil {
			sent = make(map[statuskey.Key]*wslfwdv1.ListenerStatus)
			d.sent[id] = sent
		}
		for k, v := range m {
			if st := tell(sent, k, v.row, v.asked); st != nil {
				out[id] = append(out[id], st)
			}
		}
	}
	return out
}

// tell updates what the agent knows of listener k, whose row is now r (nil:
// none), and returns the status to send, if any.
func tell(sent map[statuskey.Key]*wslfwdv1.ListenerStatus, k statuskey.Key, r *row, asked bool) *wslfwdv1.ListenerStatus {
	was, told := sent[k]
	switch {
	case r == nil:
		// The listener is gone: so is the agent's status of it.
		delete(sent, k)
		return nil
	case asked:
		delete(sent, k)
		if told {
			return listenerStatus(r) // forwarded again: undo what it was told
		}
		return nil
	}
	st := listenerStatus(r)
	if told && proto.Equal(was, st) {
		return nil
	}
	sent[k] = st
	return st
}

package daemon

import (
	"net"
	"strconv"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/hostd-windows/registry"
)

// watcherBuffer is how many events a watcher may lag behind before it is
// cut off; a watcher that cannot keep up must not slow the engine.
const watcherBuffer = 4096

type watcher struct {
	ch     chan *wslfwdv1.WatchResponse
	closed bool
}

// offer queues an event without blocking; false when the buffer is full.
func (w *watcher) offer(e *wslfwdv1.WatchResponse) bool {
	select {
	case w.ch <- e:
		return true
	default:
		return false
	}
}

// publish hands events to every watcher. Called with d.mu.
func (d *Daemon) publish(evs []*wslfwdv1.WatchResponse) {
	for w := range d.watchers {
		for _, e := range evs {
			if !w.offer(e) {
				close(w.ch)
				w.closed = true
				delete(d.watchers, w)
				break
			}
		}
	}
}

func (d *Daemon) closeWatchers() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for w := range d.watchers {
		close(w.ch)
		delete(d.watchers, w)
	}
}

// Watch streams agent and forward events. With initial set it first sends
// the current agents (CONNECTED, or DISCONNECTED for those in grace) and
// forwards (ADDED for active ones, FAILED for errors, CHANGED otherwise),
// taken atomically with the subscription, so no change is lost between.
// The response headers are sent once the subscription is in place: a
// client that waits for them knows later changes will reach it.
func (d *Daemon) Watch(req *wslfwdv1.WatchRequest, st grpc.ServerStreamingServer[wslfwdv1.WatchResponse]) error {
	w := &watcher{ch: make(chan *wslfwdv1.WatchResponse, watcherBuffer)}
	var first []*wslfwdv1.WatchResponse
	d.mu.Lock()
	if req.GetInitial() {
		now := time.Now()
		for _, a := range d.agents {
			kind := wslfwdv1.AgentEventKind_AGENT_EVENT_KIND_CONNECTED
			if !a.GetConnected() {
				kind = wslfwdv1.AgentEventKind_AGENT_EVENT_KIND_DISCONNECTED
			}
			first = append(first, &wslfwdv1.WatchResponse{Time: ts(now), Event: &wslfwdv1.WatchResponse_Agent{
				Agent: &wslfwdv1.AgentEvent{Kind: kind, Agent: a},
			}})
		}
		first = append(first, diff(nil, d.table, now)...)
	}
	d.watchers[w] = struct{}{}
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		if !w.closed {
			delete(d.watchers, w)
		}
		d.mu.Unlock()
	}()

	// Headers tell the client the subscription is in place: events from
	// here on reach it.
	if err := st.SendHeader(metadata.MD{}); err != nil {
		return err
	}
	for _, e := range first {
		if err := st.Send(e); err != nil {
			return err
		}
	}
	ctx := st.Context()
	for {
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-w.ch:
			if !ok {
				if ctx.Err() != nil {
					return nil
				}
				return status.Error(codes.Unavailable, "watch ended: the daemon is stopping or the watcher fell behind; watch again")
			}
			if err := st.Send(e); err != nil {
				return err
			}
		}
	}
}

// statusKey identifies a listener's status for an agent.
type statusKey struct {
	protocol wslfwdv1.Protocol
	listen   string
	port     uint32
}

// statusUpdates returns, per connected session, the listener statuses
// that changed since last sent, and forgets sessions that are gone.
// Called with d.mu.
func (d *Daemon) statusUpdates(sessions map[string]*registry.Session) map[string][]*wslfwdv1.ListenerStatus {
	cur := make(map[string]map[statusKey]*wslfwdv1.ListenerStatus)
	for _, r := range d.table {
		if r.agentID == "" || r.fwd.GetOrigin() != wslfwdv1.ForwardOrigin_FORWARD_ORIGIN_AGENT {
			continue
		}
		if _, ok := sessions[r.agentID]; !ok {
			continue
		}
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
		m := cur[r.agentID]
		if m == nil {
			m = make(map[statusKey]*wslfwdv1.ListenerStatus)
			cur[r.agentID] = m
		}
		m[statusKey{ls.Protocol, ls.Listen, ls.Port}] = ls
	}
	out := make(map[string][]*wslfwdv1.ListenerStatus)
	for id, m := range cur {
		prev := d.sent[id]
		for k, ls := range m {
			if p, ok := prev[k]; !ok || !proto.Equal(p, ls) {
				out[id] = append(out[id], ls)
			}
		}
	}
	d.sent = cur
	return out
}

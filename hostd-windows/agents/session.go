package agents

import (
	"context"
	"net/netip"
	"sync"
	"time"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/internal/statuskey"
)

// Session is one agent stream. The registry holds it from the hello on; it
// becomes the agent's entry once its first snapshot is accepted.
//
// Messages to the agent go through an outbox that a single sender drains
// (Run), so callers never block on a slow agent: the engine's replies
// collapse into one ForwardStatusUpdate, with the latest status per
// listener and the highest seq acted on.
type Session struct {
	ID    string
	Hello *wslfwdv1.AgentHello
	Peer  netip.AddrPort // the agent's end of the connection
	Local netip.AddrPort // the daemon's end, as the agent dialled it
	// Target is the one address the session's forwards may go to (NAT
	// mode: Peer's address); zero in the modes without targets.
	Target      netip.Addr
	ConnectedAt time.Time
	// Held is the inodes of the sockets whose listeners the registry held
	// for the distro when the session opened (its last session's, in
	// grace or replaced, of the same boot of the VM), ascending, for the
	// welcome: an agent over the limit keeps reporting them first.
	Held []uint64

	// Guarded by the registry's mutex.
	seq           uint64 // last applied seq
	synced        bool   // a snapshot was applied in this session
	resyncPending bool   // a resync was asked for and no snapshot came yet
	registered    bool
	closed        bool // the stream ended: late messages change nothing

	replaced     chan struct{} // closed when a newer session takes over
	replacedOnce sync.Once
	// unread is closed when more statuses wait than maxPending: the agent
	// does not read its stream, and the session must end.
	unread     chan struct{}
	unreadOnce sync.Once
	maxPending int // 0: no bound

	mu      sync.Mutex
	notify  chan struct{}
	control []*wslfwdv1.HostMessage // welcome, echo start/stop: in order
	// resyncWhy is the reason of a resync request not yet sent; empty: none.
	// One request stands for any number asked before it goes out, so an
	// agent that sends stale snapshots and never reads cannot grow the
	// outbox.
	resyncWhy string
	acted     uint64 // highest seq the engine acted on
	asked     uint64 // highest seq the agent wants a reply to; 0: none
	due       bool   // a reply is to be sent
	statuses  map[statuskey.Key]*wslfwdv1.ListenerStatus
	order     []statuskey.Key
	echoes    map[string]chan *wslfwdv1.EchoReady
}

func newSession(id string, hello *wslfwdv1.AgentHello, peer, local netip.AddrPort, now time.Time) *Session {
	return &Session{
		ID:          id,
		Hello:       hello,
		Peer:        peer,
		Local:       local,
		ConnectedAt: now,
		replaced:    make(chan struct{}),
		unread:      make(chan struct{}),
		notify:      make(chan struct{}, 1),
		statuses:    make(map[statuskey.Key]*wslfwdv1.ListenerStatus),
		echoes:      make(map[string]chan *wslfwdv1.EchoReady),
	}
}

func (s *Session) targets() []netip.Addr {
	if !s.Target.IsValid() {
		return nil
	}
	return []netip.Addr{s.Target}
}

// Distro is the distro named in the session's hello.
func (s *Session) Distro() string { return s.Hello.GetDistro() }

// Replaced is closed when a newer session of the same distro took over;
// the stream serving this session should then end.
func (s *Session) Replaced() <-chan struct{} { return s.replaced }

func (s *Session) markReplaced() { s.replacedOnce.Do(func() { close(s.replaced) }) }

// Unread is closed when the agent has left more listener statuses unread
// than its listener limit allows twice over; the stream serving the
// session should then end. Statuses come only from what the agent sent,
// so an agent that reads keeps few waiting; one that stops reading while
// it keeps reporting new listeners would grow the outbox without end.
func (s *Session) Unread() <-chan struct{} { return s.unread }

func (s *Session) wake() {
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

func (s *Session) push(m *wslfwdv1.HostMessage) {
	s.mu.Lock()
	s.control = append(s.control, m)
	s.mu.Unlock()
	s.wake()
}

// Reply queues what one engine run that acted on everything up to seq has
// to tell the agent: listener statuses, a later one for a listener
// replacing one not yet sent. It goes out as one ForwardStatusUpdate, and
// only when there are statuses or the agent asked for a reply at or below
// seq (want_reply).
func (s *Session) Reply(st []*wslfwdv1.ListenerStatus, seq uint64) {
	s.mu.Lock()
	s.acted = max(s.acted, seq)
	for _, v := range st {
		k := statuskey.Of(v)
		if _, ok := s.statuses[k]; !ok {
			s.order = append(s.order, k)
		}
		s.statuses[k] = v
	}
	if s.asked != 0 && s.asked <= seq {
		s.asked, s.due = 0, true
	}
	s.due = s.due || len(st) > 0
	due := s.due
	if s.maxPending > 0 && len(s.statuses) > s.maxPending {
		clear(s.statuses)
		s.order, s.due, due = nil, false, false
		s.unreadOnce.Do(func() { close(s.unread) })
	}
	s.mu.Unlock()
	if due {
		s.wake()
	}
}

// askReply notes, when want is set, that the agent wants a reply once seq
// is acted on.
func (s *Session) askReply(want bool, seq uint64) {
	if !want {
		return
	}
	s.mu.Lock()
	s.asked = max(s.asked, seq)
	s.mu.Unlock()
}

// StartEcho asks the agent to open an echo listener and returns a channel
// that receives its EchoReady. cancel forgets the probe; it does not send
// EchoStop.
func (s *Session) StartEcho(start *wslfwdv1.EchoStart) (ready <-chan *wslfwdv1.EchoReady, cancel func()) {
	ch := make(chan *wslfwdv1.EchoReady, 1)
	s.mu.Lock()
	s.echoes[start.GetProbeId()] = ch
	s.mu.Unlock()
	s.push(&wslfwdv1.HostMessage{Msg: &wslfwdv1.HostMessage_EchoStart{EchoStart: start}})
	return ch, func() {
		s.mu.Lock()
		delete(s.echoes, start.GetProbeId())
		s.mu.Unlock()
	}
}

// StopEcho asks the agent to close a probe's echo listener.
func (s *Session) StopEcho(probeID string) {
	s.push(&wslfwdv1.HostMessage{Msg: &wslfwdv1.HostMessage_EchoStop{EchoStop: &wslfwdv1.EchoStop{ProbeId: probeID}}})
}

// deliverEcho hands an EchoReady to the probe waiting for it; an answer to
// no probe (late, or forged) is dropped.
func (s *Session) deliverEcho(r *wslfwdv1.EchoReady) {
	s.mu.Lock()
	ch, ok := s.echoes[r.GetProbeId()]
	delete(s.echoes, r.GetProbeId())
	s.mu.Unlock()
	if ok {
		ch <- r
	}
}

// resync asks the agent for a snapshot, unless a request is already
// waiting to go out.
func (s *Session) resync(reason string) {
	s.mu.Lock()
	queued := s.resyncWhy != ""
	if !queued {
		s.resyncWhy = reason
	}
	s.mu.Unlock()
	if !queued {
		s.wake()
	}
}

// take empties the outbox: control messages first, in order, then a
// resync request, then the reply.
func (s *Session) take() []*wslfwdv1.HostMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.control
	s.control = nil
	if s.resyncWhy != "" {
		out = append(out, &wslfwdv1.HostMessage{Msg: &wslfwdv1.HostMessage_Resync{Resync: &wslfwdv1.ResyncRequest{Reason: s.resyncWhy}}})
		s.resyncWhy = ""
	}
	if s.due {
		up := &wslfwdv1.ForwardStatusUpdate{Seq: s.acted}
		for _, k := range s.order {
			up.Statuses = append(up.Statuses, s.statuses[k])
		}
		clear(s.statuses)
		s.order, s.due = s.order[:0], false
		out = append(out, &wslfwdv1.HostMessage{Msg: &wslfwdv1.HostMessage_ForwardStatus{ForwardStatus: up}})
	}
	return out
}

// Run sends queued messages with send until ctx ends or send fails. Only
// one Run may be active per session: a gRPC stream allows one sender.
func (s *Session) Run(ctx context.Context, send func(*wslfwdv1.HostMessage) error) error {
	for {
		for _, m := range s.take() {
			if err := send(m); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.notify:
		}
	}
}

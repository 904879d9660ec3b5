package session

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"time"

	"google.golang.org/grpc"

	"github.com/wslfwd/wslfwd/agent-linux/tracker"
	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
)

type sendStream = grpc.BidiStreamingClient[wslfwdv1.AgentMessage, wslfwdv1.HostMessage]

// stream is one Session stream.
type stream struct {
	cfg      Config
	st       sendStream
	msgs     chan *wslfwdv1.HostMessage
	recvErr  chan error  // the receiver's final error
	seq      uint64      // of the last message sent
	book     *statusBook // what the daemon said of the listeners
	link     *link       // the session's connection state
	syncs    <-chan chan (<-chan struct{})
	sent     tracker.State // what the daemon holds, as far as this stream sent it
	changed  <-chan struct{}
	local    func() netip.Addr // the connection's local address; zero if unknown
	welcomed time.Time         // when the daemon welcomed the stream; zero: not yet
	maxL     uint32            // listeners the daemon accepts; 0 = unknown
	costly   pace              // what the daemon asks that costs a listener read
	// unreported is how many listeners the last message left out
	// (reported).
	unreported uint32
	// told is the listeners the previous stream last sent: over the
	// limit, the first snapshot keeps to them too.
	told tracker.Set
	// held is the sockets the daemon holds listeners of for the distro,
	// as its welcome said: over the limit, the first snapshot keeps to
	// them as well, for an agent that restarted and so told it nothing.
	held []uint64
}

// run opens a stream and serves it until it ends. A nil error means the
// daemon closed it.
func (s *stream) run(ctx context.Context, client wslfwdv1.AgentServiceClient) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if err := s.open(ctx, client); err != nil {
		return err
	}
	s.book.reset()
	if err := s.send(&wslfwdv1.AgentMessage{Msg: &wslfwdv1.AgentMessage_Hello{Hello: s.cfg.Hello}}); err != nil {
		return err
	}
	// The snapshot must keep to the limit the welcome names: more
	// listeners than the daemon accepts would make it refuse them all.
	if err := s.awaitWelcome(ctx); err != nil {
		return err
	}
	// Read the truth now rather than trust the last scan: this snapshot
	// replaces all the daemon knew. A failed read is logged by the tracker,
	// and the last good state goes.
	_ = s.cfg.State.Refresh()
	if err := s.snapshot(); err != nil {
		return err
	}
	return s.serve(ctx)
}

// open checks the token, opens the stream and starts its receiver, which
// lives until ctx ends. The token the stream carries is the one its
// connection's handshake read and the daemon proved it holds (tokentls).
func (s *stream) open(ctx context.Context, client wslfwdv1.AgentServiceClient) error {
	if _, err := loadToken(s.cfg.TokenFile); err != nil {
		return err
	}
	var err error
	s.st, err = client.Session(ctx)
	if err != nil {
		return err
	}
	s.msgs = make(chan *wslfwdv1.HostMessage)
	s.recvErr = make(chan error, 1)
	go func() {
		for {
			m, err := s.st.Recv()
			if err != nil {
				s.recvErr <- err
				return
			}
			select {
			case s.msgs <- m:
			case <-ctx.Done():
				return
			}
		}
	}()
	return nil
}

// serve sends changes and answers the daemon until the stream ends.
func (s *stream) serve(ctx context.Context) error {
	echo := newEchoes(s.cfg)
	defer echo.closeAll()
	for {
		var err error
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-s.recvErr:
			return endErr(err)
		case <-s.changed:
			err = s.changes(false)
		case req := <-s.syncs:
			var done <-chan struct{}
			done, err = s.sync()
			req <- done
		case r := <-echo.ready:
			err = s.echoReady(r, echo)
		case m := <-s.msgs:
			err = s.handle(ctx, m, echo)
		}
		if err != nil {
			return err
		}
	}
}

func (s *stream) handle(ctx context.Context, m *wslfwdv1.HostMessage, echo *echoes) error {
	switch m := m.GetMsg().(type) {
	case *wslfwdv1.HostMessage_Welcome:
		return fmt.Errorf("the daemon welcomed session %s twice", m.Welcome.GetSessionId())
	case *wslfwdv1.HostMessage_Ack: // from a daemon before revision 2
		if a := m.Ack.GetSeq(); a > s.seq {
			s.cfg.Logger.Warn("the daemon acknowledged a message never sent", "ack", a, "last_sent", s.seq)
		} else {
			s.book.ack(a)
		}
	case *wslfwdv1.HostMessage_Resync:
		s.cfg.Logger.Info("daemon asked for a resync", "reason", m.Resync.GetReason())
		if err := s.costly.wait(ctx); err != nil {
			return err
		}
		return s.snapshot()
	case *wslfwdv1.HostMessage_ForwardStatus:
		if n := s.book.record(m.ForwardStatus, s.sent.Listeners); n > 0 {
			s.cfg.Logger.Warn("the daemon spoke of listeners this agent never sent; not kept", "statuses", n)
		}
		for _, st := range m.ForwardStatus.GetStatuses() {
			s.cfg.Logger.Debug("forward status", "protocol", st.GetProtocol().String(), "listen", st.GetListen(),
				"port", st.GetPort(), "state", st.GetState().String(), "reason", st.GetReason(), "exposed_at", st.GetExposedAt())
		}
	case *wslfwdv1.HostMessage_EchoStart:
		if err := s.costly.wait(ctx); err != nil {
			return err
		}
		// The echo listener must reach the daemon as a listener before the
		// EchoReady, so the daemon can forward it: publish it now.
		r := echo.start(ctx, m.EchoStart, s.cfg.Hello.GetDistro())
		if err := s.changes(false); err != nil || r == nil {
			return err
		}
		return s.echoReady(r, echo)
	case *wslfwdv1.HostMessage_EchoStop:
		if err := s.costly.wait(ctx); err != nil {
			return err
		}
		if echo.stop(m.EchoStop.GetProbeId()) {
			return s.changes(false)
		}
	}
	return nil
}

// welcomeTimeout bounds the wait for the daemon's welcome: a daemon
// that accepts the stream but never answers the hello must not hold the
// agent, which reconnects instead. It is the daemon's own hello timeout; a
// variable only so that tests need not wait that long.
var welcomeTimeout = 10 * time.Second

// awaitWelcome waits for the daemon's first message, its answer to the
// hello, which must be a welcome.
func (s *stream) awaitWelcome(ctx context.Context) error {
	t := time.NewTimer(welcomeTimeout)
	defer t.Stop()
	var m *wslfwdv1.HostMessage
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return fmt.Errorf("no welcome from the daemon within %v of the hello", welcomeTimeout)
	case err := <-s.recvErr:
		return endErr(err)
	case m = <-s.msgs:
	}
	w := m.GetWelcome()
	if w == nil {
		return fmt.Errorf("the daemon answered the hello with %T, not a welcome", m.GetMsg())
	}
	s.welcomed = time.Now()
	s.link.up(w.GetDaemonVersion(), s.welcomed)
	s.maxL = w.GetMaxListeners()
	s.held = w.GetHeldListenerInodes()
	s.cfg.Logger.Info("connected to the daemon", "addr", s.cfg.Addr, "session", w.GetSessionId(),
		"daemon_version", w.GetDaemonVersion(), "max_listeners", s.maxL)
	return nil
}

// reported returns what the daemon is to hear of st, and how many
// listeners that leaves out: all of st while it holds no more listeners
// than the daemon accepts, else the listeners it was told of (or holds)
// that are still open, then the oldest sockets (tracker.Set.Keep). A state it cuts
// down is no state the tracker published, so the next Changes from it is
// a whole Diff, which only this rare case pays.
func (s *stream) reported(st tracker.State) (tracker.State, uint32) {
	if s.maxL == 0 || st.Listeners.Len() <= int(s.maxL) {
		return st, 0
	}
	prefer := s.sent.Listeners.Holds
	if s.seq == 0 { // this stream's snapshot: the last stream's word, and the daemon's
		held := make(map[uint64]bool, len(s.held))
		for _, inode := range s.held {
			held[inode] = true
		}
		prefer = func(inode uint64) bool { return s.told.Holds(inode) || held[inode] }
	}
	kept, left := st.Listeners.Keep(prefer, int(s.maxL))
	return tracker.State{Network: st.Network, Listeners: kept}, uint32(left)
}

// snapshot sends the whole current state as the next message.
func (s *stream) snapshot() error {
	cur, changed := s.cfg.State.Current()
	rep, unreported := s.reported(cur)
	s.seq++
	snap := rep.Snapshot(s.seq)
	snap.UnreportedListeners = unreported
	if err := s.send(&wslfwdv1.AgentMessage{Msg: &wslfwdv1.AgentMessage_Snapshot{Snapshot: snap}}); err != nil {
		return err
	}
	s.sent, s.changed = rep, changed
	s.noteUnreported(unreported)
	return nil
}

// sync sends what changed since the last message, or an empty Changes
// when nothing did, asking the daemon to reply once it acted on it, and
// returns a channel closed when it did (nil if nothing was sent).
func (s *stream) sync() (<-chan struct{}, error) {
	if err := s.changes(true); err != nil {
		return nil, err
	}
	return s.book.asked(s.seq, s.sent), nil
}

// changes sends what changed since the last message, if anything did or
// when want asks for a reply.
func (s *stream) changes(want bool) error {
	all, changed := s.cfg.State.Current()
	s.changed = changed
	cur, unreported := s.reported(all)
	c := s.cfg.State.Changes(s.sent, cur, s.seq+1)
	if c == nil && !want && unreported == s.unreported {
		return nil
	}
	if c == nil {
		c = &wslfwdv1.Changes{Seq: s.seq + 1}
	}
	if unreported != s.unreported {
		c.UnreportedListeners = &unreported
	}
	c.WantReply = want
	if c.Network != nil && s.local != nil {
		// Gone means: on an interface in what this stream last sent, and
		// on none now.
		if a := s.local(); a.IsValid() && hasAddr(s.sent.Network, a) && !hasAddr(cur.Network, a) {
			return fmt.Errorf("%w: %s", errLocalGone, a)
		}
	}
	// Forget first: once sent, a status request may look (and a failed
	// send ends the stream, whose book starts afresh anyway).
	s.book.forget(c.GetRemoved())
	if err := s.send(&wslfwdv1.AgentMessage{Msg: &wslfwdv1.AgentMessage_Changes{Changes: c}}); err != nil {
		return err
	}
	s.seq++
	s.sent = cur
	s.noteUnreported(unreported)
	return nil
}

// echoReady sends r, saying why when the daemon's limit left the probe's
// echo listener out of what it heard: the daemon would otherwise wait out
// the probe for a forward that cannot come.
func (s *stream) echoReady(r *wslfwdv1.EchoReady, echo *echoes) error {
	if ino, ok := echo.inode[r.GetProbeId()]; ok && r.GetError() == "" && !s.sent.Listeners.Holds(ino) {
		r.Error = fmt.Sprintf("the echo listener is not reported: the distro has more listeners than the daemon accepts (%d)", s.maxL)
	}
	return s.send(&wslfwdv1.AgentMessage{Msg: &wslfwdv1.AgentMessage_EchoReady{EchoReady: r}})
}

// noteUnreported records how many listeners the message just sent left
// out, and logs when that starts and ends, not at every change.
func (s *stream) noteUnreported(n uint32) {
	switch {
	case n > 0 && s.unreported == 0:
		s.cfg.Logger.Warn("more listeners than the daemon accepts; those past the limit are not reported, so not forwarded",
			"unreported", n, "max", s.maxL)
	case n == 0 && s.unreported > 0:
		s.cfg.Logger.Info("all listeners are reported again", "max", s.maxL)
	}
	switch {
	case n > 0:
		sent := s.sent
		s.book.setCut(&sent, s.maxL)
	case s.unreported > 0:
		s.book.setCut(nil, s.maxL)
	}
	s.unreported = n
}

// send sends m. When the daemon has ended the stream, gRPC's Send says
// only io.EOF; the reason comes from the receiver.
func (s *stream) send(m *wslfwdv1.AgentMessage) error {
	err := s.st.Send(m)
	if !errors.Is(err, io.EOF) {
		return err
	}
	for {
		select {
		case err := <-s.recvErr:
			return endErr(err)
		case <-s.msgs: // the stream is over: what it still said does not matter
		}
	}
}

// healthyAfter is how long a stream must have been welcomed for its end
// to start the reconnect backoff afresh. The daemon welcomes a stream
// before it checks the snapshot, so a stream whose snapshot it refuses
// (or that it ends at once for any reason) was welcomed too: restarting
// the backoff then would reconnect, rescan and resend about every 100 ms
// for as long as the cause lasts.
const healthyAfter = 10 * time.Second

// healthy reports whether the stream, ending at now, was healthy.
func (s *stream) healthy(now time.Time) bool {
	return !s.welcomed.IsZero() && now.Sub(s.welcomed) >= healthyAfter
}

// endErr maps the daemon closing the stream cleanly to nil.
func endErr(err error) error {
	if errors.Is(err, io.EOF) {
		return nil
	}
	return err
}

package session

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"time"

	"google.golang.org/grpc"

	"github.com/wslfwd/wslfwd/agent-linux/tracker"
	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/internal/fileperm"
	"github.com/wslfwd/wslfwd/internal/token"
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
	// Read the truth now rather than trust the last scan: this snapshot
	// replaces all the daemon knew. A failed read is logged by the tracker,
	// and the last good state goes.
	_ = s.cfg.State.Refresh()
	if err := s.snapshot(); err != nil {
		return err
	}
	return s.serve(ctx)
}

// open checks and loads the token, opens the stream and starts its
// receiver, which lives until ctx ends.
func (s *stream) open(ctx context.Context, client wslfwdv1.AgentServiceClient) error {
	// Checked at every connection, not only at start: a token file opened
	// to the distro's users later must stop the agent using it.
	if err := fileperm.CheckNotShared(s.cfg.TokenFile); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return &tokenError{err}
	}
	tok, err := token.Load(s.cfg.TokenFile)
	if err != nil {
		return &tokenError{err}
	}
	s.st, err = client.Session(ctx, grpc.PerRPCCredentials(token.Credentials{Token: tok}))
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
			err = s.send(&wslfwdv1.AgentMessage{Msg: &wslfwdv1.AgentMessage_EchoReady{EchoReady: r}})
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
		s.welcomed = time.Now()
		s.link.up(m.Welcome.GetDaemonVersion(), s.welcomed)
		s.maxL = m.Welcome.GetMaxListeners()
		s.cfg.Logger.Info("connected to the daemon", "addr", s.cfg.Addr, "session", m.Welcome.GetSessionId(),
			"daemon_version", m.Welcome.GetDaemonVersion())
		s.checkMax()
	case *wslfwdv1.HostMessage_Ack: // from a daemon before revision 2
		if a := m.Ack.GetSeq(); a > s.seq {
			s.cfg.Logger.Warn("the daemon acknowledged a message never sent", "ack", a, "last_sent", s.seq)
		} else {
			s.book.ack(a)
		}
	case *wslfwdv1.HostMessage_Resync:
		s.cfg.Logger.Info("daemon asked for a resync", "reason", m.Resync.GetReason())
		return s.snapshot()
	case *wslfwdv1.HostMessage_ForwardStatus:
		s.book.record(m.ForwardStatus)
		for _, st := range m.ForwardStatus.GetStatuses() {
			s.cfg.Logger.Debug("forward status", "protocol", st.GetProtocol().String(), "listen", st.GetListen(),
				"port", st.GetPort(), "state", st.GetState().String(), "reason", st.GetReason(), "exposed_at", st.GetExposedAt())
		}
	case *wslfwdv1.HostMessage_EchoStart:
		// The echo listener must reach the daemon as a listener before the
		// EchoReady, so the daemon can forward it: publish it now.
		r := echo.start(ctx, m.EchoStart, s.cfg.Hello.GetDistro())
		if err := s.changes(false); err != nil || r == nil {
			return err
		}
		return s.send(&wslfwdv1.AgentMessage{Msg: &wslfwdv1.AgentMessage_EchoReady{EchoReady: r}})
	case *wslfwdv1.HostMessage_EchoStop:
		if echo.stop(m.EchoStop.GetProbeId()) {
			return s.changes(false)
		}
	}
	return nil
}

// snapshot sends the whole current state as the next message.
func (s *stream) snapshot() error {
	cur, changed := s.cfg.State.Current()
	s.seq++
	if err := s.send(&wslfwdv1.AgentMessage{Msg: &wslfwdv1.AgentMessage_Snapshot{Snapshot: cur.Snapshot(s.seq)}}); err != nil {
		return err
	}
	s.sent, s.changed = cur, changed
	s.checkMax()
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
	cur, changed := s.cfg.State.Current()
	s.changed = changed
	c := s.cfg.State.Changes(s.sent, cur, s.seq+1)
	if c == nil && !want {
		return nil
	}
	if c == nil {
		c = &wslfwdv1.Changes{Seq: s.seq + 1}
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
	s.checkMax()
	return nil
}

func (s *stream) checkMax() {
	if s.maxL > 0 && s.sent.Listeners.Len() > int(s.maxL) {
		s.cfg.Logger.Warn("more listeners than the daemon accepts", "listeners", s.sent.Listeners.Len(), "max", s.maxL)
	}
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

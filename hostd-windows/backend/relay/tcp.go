package relay

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"

	"github.com/wslfwd/wslfwd/hostd-windows/backend"
	"github.com/wslfwd/wslfwd/hostd-windows/logfile"
)

// tcpForward accepts connections on its listener and carries each one to
// the target over a connection of its own.
type tcpForward struct {
	entry  backend.Entry
	ln     *net.TCPListener
	dialer net.Dialer
	log    *slog.Logger

	// ctx ends when the forward stops: pending dials and back-off waits
	// end with it.
	ctx    context.Context
	cancel context.CancelFunc

	maxConns int             // clients carried at once (Options.MaxTCPConns)
	budget   *budget         // the relay's, shared by every forward
	refusals *logfile.Budget // lines of clients refused at a cap

	mu      sync.Mutex
	conns   map[*net.TCPConn]struct{} // both sides of every carried connection
	clients int                       // client sides among conns
	closed  bool

	wg sync.WaitGroup // the accept loop and every connection's goroutine
}

// startTCP binds the listener and starts accepting before it returns.
func startTCP(ctx context.Context, e backend.Entry, opts Options, b *budget, log *slog.Logger) (*tcpForward, error) {
	var lc net.ListenConfig
	l, err := lc.Listen(ctx, network(e.Protocol, e.Listen), e.Listen.String())
	if err != nil {
		return nil, bindError(e, err)
	}
	f := &tcpForward{
		entry:    e,
		ln:       l.(*net.TCPListener),
		dialer:   net.Dialer{Timeout: opts.DialTimeout},
		log:      log,
		maxConns: opts.MaxTCPConns,
		budget:   b,
		refusals: newRefusalLog(),
		conns:    make(map[*net.TCPConn]struct{}),
	}
	f.ctx, f.cancel = context.WithCancel(context.Background())
	f.wg.Add(1)
	go f.accept()
	return f, nil
}

func (f *tcpForward) accept() {
	defer f.wg.Done()
	var b backoff
	for {
		c, err := f.ln.AcceptTCP()
		if err != nil {
			if isClosed(err) {
				return
			}
			f.log.Warn("accept failed", "err", err)
			b.wait(f.ctx.Done())
			continue
		}
		b.reset()
		switch a := f.admit(c); a {
		case admitted:
			f.wg.Add(1)
			go f.carry(c)
		case refusedHere, refusedByRelay:
			c.SetLinger(0) // a reset: nothing of it lingers in the host
			c.Close()
			logRefusal(f.refusals, f.log, a == refusedByRelay, f.maxConns)
		case stopping:
			c.Close()
			return
		}
	}
}

// admission is what admit decided for a new client.
type admission int

const (
	admitted       admission = iota
	refusedHere              // at the forward's cap
	refusedByRelay           // at the relay's cap (budget)
	stopping                 // the forward is closing
)

// admit tracks a new client connection within the forward's cap and the
// relay's budget; release gives back what it took.
func (f *tcpForward) admit(c *net.TCPConn) admission {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case f.closed:
		return stopping
	case f.clients >= f.maxConns:
		return refusedHere
	case !f.budget.take():
		return refusedByRelay
	}
	f.clients++
	f.conns[c] = struct{}{}
	return admitted
}

// release closes and forgets an admitted client connection.
func (f *tcpForward) release(c *net.TCPConn) {
	f.untrack(c)
	f.mu.Lock()
	f.clients--
	f.mu.Unlock()
	f.budget.give()
}

// carry connects the accepted client to the target and copies both ways
// until both directions have ended.
func (f *tcpForward) carry(client *net.TCPConn) {
	defer f.wg.Done()
	defer f.release(client)

	up, err := f.dialer.DialContext(f.ctx, network(f.entry.Protocol, f.entry.Connect), f.entry.Connect.String())
	if err != nil {
		f.log.Debug("dial target failed", "client", client.RemoteAddr(), "err", err)
		return
	}
	upstream := up.(*net.TCPConn)
	if !f.track(upstream) {
		upstream.Close()
		return
	}
	defer f.untrack(upstream)

	back := make(chan error, 1)
	go func() { back <- pipe(client, upstream) }()
	err = errors.Join(pipe(upstream, client), <-back)
	if err != nil {
		f.log.Debug("connection broken", "client", client.RemoteAddr(), "err", err)
	}
}

// pipe copies src to dst. At src's end of stream it half-closes dst, so
// the peer sees EOF and may still answer. On an error it closes both
// connections, which also ends the copy in the other direction, and
// returns the error unless it comes from that closing.
func pipe(dst, src *net.TCPConn) error {
	_, err := copyConn(dst, src)
	if err == nil {
		err = dst.CloseWrite()
	}
	if err == nil {
		return nil
	}
	dst.Close()
	src.Close()
	if isClosed(err) {
		return nil
	}
	return err
}

// track records a connection so that close can end it; it reports false
// once the forward is stopping.
func (f *tcpForward) track(c *net.TCPConn) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return false
	}
	f.conns[c] = struct{}{}
	return true
}

// untrack closes a connection and forgets it.
func (f *tcpForward) untrack(c *net.TCPConn) {
	c.Close()
	f.mu.Lock()
	delete(f.conns, c)
	f.mu.Unlock()
}

func (f *tcpForward) close() {
	f.mu.Lock()
	f.closed = true
	for c := range f.conns {
		c.Close()
	}
	f.mu.Unlock()
	f.ln.Close()
	f.cancel()
	f.wg.Wait()
}

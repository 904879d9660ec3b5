package relay

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wslfwd/wslfwd/hostd-windows/backend"
	"github.com/wslfwd/wslfwd/hostd-windows/logfile"
)

// maxDatagram holds any UDP payload, so no datagram is ever truncated.
const maxDatagram = 64 << 10

// udpForward receives datagrams on its listening socket and carries each
// client's to the target over an upstream socket of that client's own (a
// flow), so replies can be told apart and sent back to the right client
// from the listening socket, the address the client wrote to.
type udpForward struct {
	entry    backend.Entry
	conn     *net.UDPConn
	idle     time.Duration
	maxFlows int             // flows at once (Options.MaxUDPFlows)
	budget   *budget         // the relay's, shared by every forward
	refusals *logfile.Budget // lines of clients refused at a cap
	log      *slog.Logger

	ctx    context.Context // ends when the forward stops
	cancel context.CancelFunc

	mu     sync.Mutex
	flows  map[netip.AddrPort]*udpFlow
	closed bool

	wg sync.WaitGroup // the receive loop and every flow's reply loop
}

// udpFlow is one client's path to the target.
type udpFlow struct {
	client   netip.AddrPort
	upstream *net.UDPConn // connected to the target
	last     atomic.Int64 // when a datagram last passed, in Unix nanoseconds
}

func (fl *udpFlow) touch() { fl.last.Store(time.Now().UnixNano()) }

func (fl *udpFlow) lastActive() time.Time { return time.Unix(0, fl.last.Load()) }

// startUDP binds the listening socket and starts receiving before it
// returns.
func startUDP(ctx context.Context, e backend.Entry, opts Options, b *budget, log *slog.Logger) (*udpForward, error) {
	var lc net.ListenConfig
	pc, err := lc.ListenPacket(ctx, network(e.Protocol, e.Listen), e.Listen.String())
	if err != nil {
		return nil, bindError(e, err)
	}
	f := &udpForward{
		entry:    e,
		conn:     pc.(*net.UDPConn),
		idle:     opts.UDPIdleTimeout,
		maxFlows: opts.MaxUDPFlows,
		budget:   b,
		refusals: newRefusalLog(),
		log:      log,
		flows:    make(map[netip.AddrPort]*udpFlow),
	}
	f.ctx, f.cancel = context.WithCancel(context.Background())
	f.wg.Add(1)
	go f.receive()
	return f, nil
}

// receive passes each client datagram to the client's flow.
func (f *udpForward) receive() {
	defer f.wg.Done()
	buf := make([]byte, maxDatagram)
	var b backoff
	for {
		n, client, err := f.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if isClosed(err) {
				return
			}
			f.log.Warn("receive failed", "err", err)
			b.wait(f.ctx.Done())
			continue
		}
		b.reset()
		f.send(client, buf[:n])
	}
}

// send writes a client's datagram upstream, starting the client's flow if
// it has none. A flow that expired between lookup and write is replaced
// once.
func (f *udpForward) send(client netip.AddrPort, p []byte) {
	for range 2 {
		fl := f.flow(client)
		if fl == nil {
			return
		}
		fl.touch()
		_, err := fl.upstream.Write(p)
		if !isClosed(err) {
			if err != nil {
				f.log.Debug("send upstream failed", "client", client, "err", err)
			}
			return
		}
	}
}

// flow returns the client's flow, starting it if needed. It returns nil
// when the forward is stopping, the flow limit is reached, or the upstream
// socket cannot be made; the datagram is then dropped, as UDP allows.
func (f *udpForward) flow(client netip.AddrPort) *udpFlow {
	f.mu.Lock()
	defer f.mu.Unlock()
	if fl, ok := f.flows[client]; ok {
		return fl
	}
	if f.closed {
		return nil
	}
	if len(f.flows) >= f.maxFlows {
		logRefusal(f.refusals, f.log, false, f.maxFlows)
		return nil
	}
	if !f.budget.take() {
		logRefusal(f.refusals, f.log, true, f.maxFlows)
		return nil
	}
	up, err := net.DialUDP(network(f.entry.Protocol, f.entry.Connect), nil, net.UDPAddrFromAddrPort(f.entry.Connect))
	if err != nil {
		f.budget.give()
		f.log.Warn("open upstream socket failed", "client", client, "err", err)
		return nil
	}
	fl := &udpFlow{client: client, upstream: up}
	fl.touch()
	f.flows[client] = fl
	f.wg.Add(1)
	go f.reply(fl)
	return fl
}

// reply sends the target's datagrams back to the flow's client until the
// flow has been idle for the idle timeout or the forward stops.
func (f *udpForward) reply(fl *udpFlow) {
	defer f.wg.Done()
	defer f.drop(fl)
	buf := make([]byte, maxDatagram)
	var b backoff
	for {
		fl.upstream.SetReadDeadline(fl.lastActive().Add(f.idle))
		n, err := fl.upstream.Read(buf)
		switch {
		case err == nil:
			b.reset()
			fl.touch()
			if _, err := f.conn.WriteToUDPAddrPort(buf[:n], fl.client); err != nil {
				f.log.Debug("send to client failed", "client", fl.client, "err", err)
			}
		case errors.Is(err, os.ErrDeadlineExceeded):
			if time.Since(fl.lastActive()) >= f.idle {
				return
			}
		case isClosed(err):
			return
		default:
			// The target refused an earlier datagram (nothing listens
			// there yet): keep the flow until it idles out.
			f.log.Debug("receive from target failed", "client", fl.client, "err", err)
			b.wait(f.ctx.Done())
		}
	}
}

// drop forgets a flow and ends it. Forgetting comes first, so that a
// datagram that finds the flow closed starts a new one (see send).
func (f *udpForward) drop(fl *udpFlow) {
	f.mu.Lock()
	if f.flows[fl.client] == fl {
		delete(f.flows, fl.client)
	}
	f.mu.Unlock()
	fl.upstream.Close()
	f.budget.give()
}

func (f *udpForward) close() {
	f.mu.Lock()
	f.closed = true
	for _, fl := range f.flows {
		fl.upstream.Close()
	}
	f.mu.Unlock()
	f.conn.Close()
	f.cancel()
	f.wg.Wait()
}

// Package relay is the userspace backend: it carries TCP and UDP forwards
// through sockets of its own, on any operating system. It is what the lab
// uses on Linux, and on Windows it is how UDP gets forwarded, which
// portproxy cannot do.
//
// A relay's forwards live in its process: Close stops them all, and a new
// Relay starts empty. The reconciler re-creates them after a restart.
package relay

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/wslfwd/wslfwd/hostd-windows/backend"
)

// Defaults for the zero Options fields.
//
// The caps bound what a flood from the LAN can make the daemon hold. Each
// carried connection or flow holds a port of the host's for its side
// towards the target; a connection also holds two goroutines and, off
// Linux, two 16 KiB copy buffers (copy_other.go), a flow one goroutine
// and a 64 KiB reply buffer, so that no datagram is cut. At the
// relay-wide cap that is 1,024 of Windows' 16,384 dynamic ports and at
// most about 80 MiB. A forward's own cap leaves room for the others when
// one is flooded. A developer's service reached from a few phones and PCs
// holds a few dozen at a time.
const (
	DefaultDialTimeout    = 10 * time.Second
	DefaultUDPIdleTimeout = 60 * time.Second
	DefaultMaxUDPFlows    = 512
	DefaultMaxTCPConns    = 512
	DefaultMaxClients     = 1024
)

// Options tune a Relay. Zero or negative fields take the defaults.
type Options struct {
	// DialTimeout bounds the connection to a TCP forward's target.
	DialTimeout time.Duration
	// UDPIdleTimeout is how long a UDP client flow lives without a packet
	// in either direction before its upstream socket is closed.
	UDPIdleTimeout time.Duration
	// MaxUDPFlows caps the client flows of one UDP forward. Packets from
	// further clients are dropped until a flow expires, so a flood of
	// source addresses cannot exhaust the host's sockets.
	MaxUDPFlows int
	// MaxTCPConns caps the connections one TCP forward carries at once;
	// further clients are refused (reset) until some end.
	MaxTCPConns int
	// MaxClients caps the TCP connections and UDP flows of all forwards
	// together (budget).
	MaxClients int
	// Logger receives the relay's logs; nil means slog.Default().
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.DialTimeout <= 0 {
		o.DialTimeout = DefaultDialTimeout
	}
	if o.UDPIdleTimeout <= 0 {
		o.UDPIdleTimeout = DefaultUDPIdleTimeout
	}
	if o.MaxUDPFlows <= 0 {
		o.MaxUDPFlows = DefaultMaxUDPFlows
	}
	if o.MaxTCPConns <= 0 {
		o.MaxTCPConns = DefaultMaxTCPConns
	}
	if o.MaxClients <= 0 {
		o.MaxClients = DefaultMaxClients
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// forward is one running forward.
type forward interface {
	// close stops the forward: its listener, its connections or flows, and
	// every goroutine serving them, before it returns.
	close()
}

// Relay is a backend.Backend whose forwards are served in this process.
// It is safe for concurrent use.
type Relay struct {
	opts Options
	log  *slog.Logger

	mu       sync.Mutex // serialises Apply, List and Close
	forwards map[backend.Key]running
	closed   bool

	clients *budget // every forward's connections and flows
}

type running struct {
	entry backend.Entry
	fwd   forward
}

var _ backend.Backend = (*Relay)(nil)

// errClosed is returned by a Relay's methods after Close.
var errClosed = errors.New("relay is closed")

// New returns an empty relay.
func New(opts Options) *Relay {
	opts = opts.withDefaults()
	return &Relay{
		opts: opts,
		// No backend attribute here: the daemon names the backend in the
		// logger it passes, and a second one logged "backend=relay" twice.
		log:      opts.Logger,
		forwards: make(map[backend.Key]running),
		clients:  &budget{max: int64(opts.MaxClients)},
	}
}

// Name returns "relay".
func (r *Relay) Name() string { return "relay" }

// Supports reports true for TCP and UDP.
func (r *Relay) Supports(p backend.Protocol) bool {
	return p == backend.TCP || p == backend.UDP
}

// List returns the running forwards, ordered by protocol and listen address.
func (r *Relay) List(context.Context) ([]backend.Entry, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, errClosed
	}
	out := make([]backend.Entry, 0, len(r.forwards))
	for _, f := range r.forwards {
		out = append(out, f.entry)
	}
	slices.SortFunc(out, func(a, b backend.Entry) int {
		return cmp.Or(cmp.Compare(a.Protocol, b.Protocol), a.Listen.Compare(b.Listen))
	})
	return out, nil
}

// Apply stops the batch's removals, then starts its additions. An addition
// is listening when Apply returns, so connections to it succeed at once.
//
// A removal matches the whole entry: removing a key that holds nothing is a
// success, removing a key that holds a different target is a failure and
// leaves it running. Adding an entry that already runs fails with
// backend.ErrExists; adding at a key that holds a different target fails
// with backend.ErrPortInUse.
func (r *Relay) Apply(ctx context.Context, b backend.Batch) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("apply: %w", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return errClosed
	}
	var failed []backend.Failure
	for _, e := range b.Remove {
		if err := r.remove(e); err != nil {
			failed = append(failed, backend.Failure{Entry: e, Remove: true, Err: err})
		}
	}
	for _, e := range b.Add {
		if err := r.add(ctx, e); err != nil {
			failed = append(failed, backend.Failure{Entry: e, Err: err})
		}
	}
	if failed != nil {
		return &backend.ApplyError{Failures: failed}
	}
	return nil
}

func (r *Relay) remove(e backend.Entry) error {
	cur, ok := r.forwards[e.Key()]
	if !ok {
		return nil
	}
	if cur.entry != e {
		return fmt.Errorf("%s is forwarded to %s, not %s", e.Key(), cur.entry.Connect, e.Connect)
	}
	cur.fwd.close()
	delete(r.forwards, e.Key())
	return nil
}

func (r *Relay) add(ctx context.Context, e backend.Entry) error {
	if err := checkEntry(e); err != nil {
		return err
	}
	if cur, ok := r.forwards[e.Key()]; ok {
		if cur.entry == e {
			return fmt.Errorf("%s: %w", e, backend.ErrExists)
		}
		return fmt.Errorf("%s is already forwarded to %s: %w", e.Key(), cur.entry.Connect, backend.ErrPortInUse)
	}
	var (
		f   forward
		err error
	)
	log := r.log.With("entry", e.String())
	switch e.Protocol {
	case backend.TCP:
		f, err = startTCP(ctx, e, r.opts, r.clients, log)
	case backend.UDP:
		f, err = startUDP(ctx, e, r.opts, r.clients, log)
	}
	if err != nil {
		return err
	}
	// Not logged here: the reconciler logs every forward it adds or
	// removes, whatever the backend.
	r.forwards[e.Key()] = running{entry: e, fwd: f}
	return nil
}

// Close stops every forward and waits until nothing is served any more.
// Unlike a persisting backend's, the relay's entries end with it.
func (r *Relay) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	for k, f := range r.forwards {
		f.fwd.close()
		delete(r.forwards, k)
	}
	return nil
}

// checkEntry rejects entries the relay cannot or must not serve.
func checkEntry(e backend.Entry) error {
	switch e.Protocol {
	case backend.TCP, backend.UDP:
	default:
		return fmt.Errorf("protocol %q: %w", e.Protocol, backend.ErrUnsupported)
	}
	return backend.Check(e)
}

// bindError explains a failed listen, wrapping the backend's sentinel
// errors where the cause is one of them.
func bindError(e backend.Entry, err error) error {
	if why := backend.BindRefusal(err); why != nil {
		return fmt.Errorf("listen on %s %s: %w: %w", e.Protocol, e.Listen, why, err)
	}
	return fmt.Errorf("listen on %s %s: %w", e.Protocol, e.Listen, err)
}

// network names the socket family for an address, so that a listener on
// 0.0.0.0 never also takes [::] (and the reverse), as portproxy keeps
// v4 and v6 listeners apart.
func network(p backend.Protocol, ap netip.AddrPort) string {
	if ap.Addr().Is4() {
		return string(p) + "4"
	}
	return string(p) + "6"
}

// backoff paces a serve loop after errors it survives, such as running out
// of file descriptors, so it neither spins nor gives up.
type backoff struct{ d time.Duration }

// wait sleeps for the next delay, or until done is closed.
func (b *backoff) wait(done <-chan struct{}) {
	b.d = min(max(2*b.d, 5*time.Millisecond), time.Second)
	t := time.NewTimer(b.d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-done:
	}
}

// reset starts the delays over after a success.
func (b *backoff) reset() { b.d = 0 }

// isClosed reports whether err comes from a socket this package closed.
func isClosed(err error) bool { return errors.Is(err, net.ErrClosed) }

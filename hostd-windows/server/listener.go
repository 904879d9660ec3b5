package server

import (
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wslfwd/wslfwd/hostd-windows/agents"
	"github.com/wslfwd/wslfwd/hostd-windows/metrics"
)

// Connection limits (LimitOptions' defaults). A connection is pending from
// accept until its first call with a valid token; then it is
// authenticated. Only pending connections can be opened without a token,
// so they are few and short-lived; SECURITY.md lists the values.
const (
	// DefaultMaxPendingPerSource bounds the pending connections of one
	// source address (all of loopback counts as one source). Legitimate
	// clients make their first call within milliseconds, so a handful
	// would do; 64 leaves room for bursts of CLI commands.
	DefaultMaxPendingPerSource = 64
	// DefaultMaxPending bounds pending connections from all sources.
	DefaultMaxPending = 256
	// DefaultPendingTimeout closes a connection that has made no call
	// with a valid token this long after accept.
	DefaultPendingTimeout = 10 * time.Second
	// DefaultMaxAuthenticatedPerSource bounds the authenticated
	// connections of one source: all distros of a WSL2 VM share one
	// address, and each agent holds one connection.
	DefaultMaxAuthenticatedPerSource = 128
	// DefaultMaxAuthenticated bounds authenticated connections in all.
	DefaultMaxAuthenticated = 512
)

// LimitOptions bound the connections the server holds. Past a cap a
// pending connection of the source (or, for the total, of any source) is
// closed to admit the new one: the oldest of those that made a call
// without a valid token, else of those that have sent nothing, else of
// all. So an attacker holding idle connections, or remaking them, cannot
// keep a client with a token out: the client's connection is the newest,
// sends at once, and leaves the pending pool at its first call.
// Authenticated connections count against the caps of their role only
// (each role has MaxAuthenticatedPerSource and MaxAuthenticated of its
// own), and one past a cap replaces the oldest of its role that carries no
// agent session; if there is none, the call is refused and the connection
// stays pending. So no token can crowd out another role's connections:
// not an agent token the admin's, nor the read token, which every local
// user can read, the agents that connect over loopback (mirrored mode,
// WSL1), which share one source.
type LimitOptions struct {
	MaxPendingPerSource       int
	MaxPending                int
	PendingTimeout            time.Duration
	MaxAuthenticatedPerSource int
	MaxAuthenticated          int
}

func (o *LimitOptions) setDefaults() {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.MaxPendingPerSource, DefaultMaxPendingPerSource)
	def(&o.MaxPending, DefaultMaxPending)
	def(&o.MaxAuthenticatedPerSource, DefaultMaxAuthenticatedPerSource)
	def(&o.MaxAuthenticated, DefaultMaxAuthenticated)
	if o.PendingTimeout <= 0 {
		o.PendingTimeout = DefaultPendingTimeout
	}
}

// evictLogInterval is how often at most the limiter logs the connections
// it closed past the caps: an attack shows in the log without flooding it.
const evictLogInterval = 10 * time.Second

// limiter tracks the connections of every listener of one server, so the
// caps hold across them.
type limiter struct {
	o       LimitOptions
	log     *slog.Logger
	metrics *metrics.Metrics // counts the connections it closes
	mu      sync.Mutex
	pending pool
	authed  [numRanks]pool // by role rank
	// Connections closed past a cap since loggedAt, not logged yet.
	evicted  int
	loggedAt time.Time
}

func newLimiter(o LimitOptions, log *slog.Logger, m *metrics.Metrics) *limiter {
	o.setDefaults()
	lim := &limiter{o: o, log: log, metrics: m, pending: newPool()}
	for i := range lim.authed {
		lim.authed[i] = newPool()
	}
	return lim
}

// noteEvicted counts n connections closed past a cap, and logs the count
// at most once per evictLogInterval. Called with lim.mu.
func (lim *limiter) noteEvicted(n int) {
	lim.metrics.ClosedPastLimits(n)
	lim.evicted += n
	if lim.evicted == 0 || time.Since(lim.loggedAt) < evictLogInterval {
		return
	}
	authed := 0
	for _, p := range lim.authed {
		authed += len(p.all)
	}
	lim.log.Warn("closed connections past the connection limits", "closed", lim.evicted,
		"pending", len(lim.pending.all), "authenticated", authed)
	lim.evicted, lim.loggedAt = 0, time.Now()
}

// pool holds connections in accept order, in all and by source.
type pool struct {
	all      []*trackedConn
	bySource map[netip.Addr][]*trackedConn
}

func newPool() pool { return pool{bySource: make(map[netip.Addr][]*trackedConn)} }

func (p *pool) add(c *trackedConn) {
	p.all = append(p.all, c)
	p.bySource[c.src] = append(p.bySource[c.src], c)
}

// remove reports whether c was in the pool.
func (p *pool) remove(c *trackedConn) bool {
	i := slices.Index(p.all, c)
	if i < 0 {
		return false
	}
	p.all = slices.Delete(p.all, i, i+1)
	s := p.bySource[c.src]
	if j := slices.Index(s, c); j >= 0 {
		s = slices.Delete(s, j, j+1)
	}
	if len(s) == 0 {
		delete(p.bySource, c.src)
	} else {
		p.bySource[c.src] = s
	}
	return true
}

// evict makes room for one connection of src under the caps: it removes
// and returns the connections that give way, or reports false, removing
// nothing, if one cap has none that may (see victim).
func (p *pool) evict(src netip.Addr, perSource, total int, passes ...func(*trackedConn) bool) ([]*trackedConn, bool) {
	var out []*trackedConn
	if len(p.bySource[src]) >= perSource {
		i := victim(p.bySource[src], nil, passes)
		if i < 0 {
			return nil, false
		}
		out = append(out, p.bySource[src][i])
	}
	if len(p.all)-len(out) >= total {
		i := victim(p.all, out, passes)
		if i < 0 {
			return nil, false
		}
		out = append(out, p.all[i])
	}
	for _, c := range out {
		p.remove(c)
	}
	return out, true
}

// victim returns the index in cs (oldest first) of the connection to
// close: the oldest that the first pass accepts, else the oldest the
// second accepts, and so on, never one in skip; -1 if there is none.
func victim(cs, skip []*trackedConn, passes []func(*trackedConn) bool) int {
	for _, ok := range passes {
		if i := slices.IndexFunc(cs, func(c *trackedConn) bool { return ok(c) && !slices.Contains(skip, c) }); i >= 0 {
			return i
		}
	}
	return -1
}

// The passes that choose the pending connection to close: first one that
// made a call with a missing or wrong token, then one that has sent
// nothing, then any. A client with a token sends its HTTP/2 preface at
// once, so connections that only hold a socket open, however fast they
// are remade, give way before it.
var pendingPasses = []func(*trackedConn) bool{
	func(c *trackedConn) bool { return c.refused.Load() },
	(*trackedConn).silent,
	func(*trackedConn) bool { return true },
}

// sourceName names a source in refusals.
func sourceName(src netip.Addr) string {
	if src.IsLoopback() {
		return "loopback"
	}
	return "the network that reaches the daemon at " + src.String()
}

// listener wraps l so that its connections count against the server's caps.
func (lim *limiter) listener(l net.Listener) net.Listener {
	return &limitListener{Listener: l, lim: lim}
}

type limitListener struct {
	net.Listener
	lim *limiter
}

// Accept never blocks on a cap: it closes the connections that must give
// way and admits the new one. When it closed some, it yields before it
// returns, so that the goroutines serving them run and let go of what they
// hold before the next connection gets its own: under a flood the accept
// loop is always runnable and would otherwise outpace them.
func (l *limitListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc, evicted := l.lim.admit(c)
	if evicted {
		runtime.Gosched()
	}
	return tc, nil
}

// admit tracks a new connection as pending and starts its deadline. It
// reports whether it closed others to make room.
func (lim *limiter) admit(nc net.Conn) (*trackedConn, bool) {
	ap := addrPort(nc.RemoteAddr())
	c := &trackedConn{Conn: nc, lim: lim, src: agents.Source(ap, addrPort(nc.LocalAddr()))}
	c.addr = &connAddr{Addr: nc.RemoteAddr(), ap: ap, conn: c}
	lim.mu.Lock()
	out, _ := lim.pending.evict(c.src, lim.o.MaxPendingPerSource, lim.o.MaxPending, pendingPasses...)
	lim.noteEvicted(len(out))
	lim.pending.add(c)
	c.timer = time.AfterFunc(lim.o.PendingTimeout, c.expire)
	lim.mu.Unlock()
	closeAll(out)
	return c, len(out) > 0
}

// graduate moves c from the pending pool to its role's authenticated pool
// at its first call with a valid token of a role of the given rank
// (role.rank). It reports false when the role's caps leave no room.
func (lim *limiter) graduate(c *trackedConn, rank int) bool {
	lim.mu.Lock()
	if c.rank > 0 {
		lim.mu.Unlock()
		return true
	}
	if !slices.Contains(lim.pending.bySource[c.src], c) {
		lim.mu.Unlock()
		return false // closed meanwhile
	}
	// Only a connection that carries no agent session gives way, so that a
	// token holder opening connections cannot close the live agents' ones.
	out, ok := lim.authed[rank].evict(c.src, lim.o.MaxAuthenticatedPerSource, lim.o.MaxAuthenticated,
		func(o *trackedConn) bool { return o.sessions.Load() == 0 })
	lim.noteEvicted(len(out))
	if ok {
		lim.pending.remove(c)
		c.rank = rank
		c.timer.Stop()
		lim.authed[rank].add(c)
	}
	lim.mu.Unlock()
	closeAll(out)
	return ok
}

func (lim *limiter) forget(c *trackedConn) {
	lim.mu.Lock()
	defer lim.mu.Unlock()
	if !lim.pending.remove(c) {
		lim.authed[c.rank].remove(c)
	}
}

func closeAll(cs []*trackedConn) {
	for _, c := range cs {
		c.Close()
	}
}

// trackedConn is an accepted connection under the limiter. Its RemoteAddr
// is a *connAddr, which gRPC hands on as the peer address: that is how
// the auth check finds the connection a call came on.
type trackedConn struct {
	net.Conn
	lim   *limiter
	src   netip.Addr
	addr  *connAddr
	timer *time.Timer
	rank  int // 0 while pending; guarded by lim.mu
	once  sync.Once
	// spoke is set once the peer has sent anything; refused once it made
	// a call with a missing or wrong token. Both rank it for eviction.
	spoke, refused atomic.Bool
	// sessions counts the agent sessions open on the connection: such a
	// connection never gives way to another of the same role.
	sessions atomic.Int32
}

// holdSession marks the connection of a call's peer address as carrying
// an agent session until the returned func is called. Addresses of
// connections the limiter does not track are ignored.
func holdSession(a net.Addr) func() {
	ca, ok := a.(*connAddr)
	if !ok {
		return func() {}
	}
	ca.conn.sessions.Add(1)
	return func() { ca.conn.sessions.Add(-1) }
}

func (c *trackedConn) RemoteAddr() net.Addr { return c.addr }

// silent reports whether the peer has sent nothing yet, not even bytes
// the daemon has not read: under load the daemon may read a client's
// preface well after it arrived.
func (c *trackedConn) silent() bool {
	if c.spoke.Load() {
		return false
	}
	if hasInput(c.Conn) {
		c.spoke.Store(true)
		return false
	}
	return true
}

func (c *trackedConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 && !c.spoke.Load() {
		c.spoke.Store(true)
	}
	return n, err
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.timer.Stop()
		c.lim.forget(c)
	})
	return c.Conn.Close()
}

// expire closes c if it is still pending when its deadline passes. It
// leaves the pending pool at once, so it cannot graduate meanwhile.
func (c *trackedConn) expire() {
	c.lim.mu.Lock()
	pending := c.lim.pending.remove(c)
	c.lim.mu.Unlock()
	if pending {
		c.lim.metrics.ClosedPendingTimeout()
		c.Close()
	}
}

// connAddr is a tracked connection's remote address.
type connAddr struct {
	net.Addr
	ap   netip.AddrPort
	conn *trackedConn
}

// AddrPort is the address as a netip.AddrPort, as net.TCPAddr has it.
func (a *connAddr) AddrPort() netip.AddrPort { return a.ap }

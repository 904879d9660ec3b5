package server

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wslfwd/wslfwd/hostd-windows/metrics"
	"github.com/wslfwd/wslfwd/internal/waitfor"
)

// fakeConn is an accepted connection from a chosen address that notes
// whether it was closed.
type fakeConn struct {
	net.Conn // nil: only the methods below are called
	remote   *net.TCPAddr
	closed   atomic.Bool
}

// LocalAddr is unknown, so that each remote address is a source of its
// own, as the limiter's tests want.
func (f *fakeConn) LocalAddr() net.Addr { return nil }

func (c *fakeConn) RemoteAddr() net.Addr       { return c.remote }
func (c *fakeConn) Read(b []byte) (int, error) { return copy(b, "x"), nil }
func (c *fakeConn) Close() error               { c.closed.Store(true); return nil }

func testLimiter(o LimitOptions) *limiter {
	return newLimiter(o, slog.New(slog.DiscardHandler), metrics.New())
}

// wantCounted checks the connections lim counted as closed past the caps
// and at the pending timeout.
func wantCounted(t *testing.T, lim *limiter, limit, timeout uint64) {
	t.Helper()
	s := lim.metrics.Snapshot()
	if s.ClosedPastLimits != limit || s.ClosedPendingTimeout != timeout {
		t.Fatalf("counted %d closed past the limits and %d at the pending timeout, want %d and %d",
			s.ClosedPastLimits, s.ClosedPendingTimeout, limit, timeout)
	}
}

// conns admits one fake connection per address, in order.
func conns(t *testing.T, lim *limiter, addrs ...string) ([]*fakeConn, []*trackedConn) {
	t.Helper()
	var fs []*fakeConn
	var ts []*trackedConn
	for _, a := range addrs {
		f := &fakeConn{remote: net.TCPAddrFromAddrPort(netip.MustParseAddrPort(a))}
		fs = append(fs, f)
		tc, _ := lim.admit(f)
		ts = append(ts, tc)
	}
	t.Cleanup(func() {
		for _, c := range ts {
			c.Close()
		}
	})
	return fs, ts
}

func closedOnes(fs []*fakeConn) []bool {
	out := make([]bool, len(fs))
	for i, f := range fs {
		out[i] = f.closed.Load()
	}
	return out
}

func wantClosed(t *testing.T, fs []*fakeConn, want ...bool) {
	t.Helper()
	got := closedOnes(fs)
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("closed = %v, want %v", got, want)
		}
	}
}

func TestOldestPendingOfTheSourceGivesWay(t *testing.T) {
	lim := testLimiter(LimitOptions{MaxPendingPerSource: 2, PendingTimeout: time.Hour})
	fs, _ := conns(t, lim, "172.28.240.53:1000", "172.28.240.53:1001", "172.28.240.54:1000", "172.28.240.53:1002")
	// The third from .53 closes the first from .53, not .54's.
	wantClosed(t, fs, true, false, false, false)
	if n := len(lim.pending.all); n != 3 {
		t.Fatalf("%d pending, want 3", n)
	}
	wantCounted(t, lim, 1, 0)
}

// Accept yields only after admit closed connections to make room.
func TestAdmitReportsWhetherItClosedOthers(t *testing.T) {
	lim := testLimiter(LimitOptions{MaxPendingPerSource: 1, PendingTimeout: time.Hour})
	for i, want := range []bool{false, true} {
		f := &fakeConn{remote: net.TCPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr("10.0.0.1"), uint16(1000+i)))}
		c, evicted := lim.admit(f)
		t.Cleanup(func() { c.Close() })
		if evicted != want {
			t.Errorf("connection %d: admit reported closing others %v, want %v", i, evicted, want)
		}
	}
}

func TestRefusedThenSilentConnectionsGiveWayFirst(t *testing.T) {
	lim := testLimiter(LimitOptions{MaxPendingPerSource: 3, PendingTimeout: time.Hour})
	fs, ts := conns(t, lim, "10.0.0.1:1", "10.0.0.1:2", "10.0.0.1:3")
	ts[0].Read(make([]byte, 1)) // spoke
	ts[2].Read(make([]byte, 1))
	ts[2].refused.Store(true) // spoke, then made a call without a token
	more, _ := conns(t, lim, "10.0.0.1:4")
	wantClosed(t, fs, false, false, true) // the refused one
	conns(t, lim, "10.0.0.1:5")
	wantClosed(t, fs, false, true, true) // then the oldest silent one
	conns(t, lim, "10.0.0.1:6")
	wantClosed(t, more, true) // still a silent one before the one that spoke
	wantClosed(t, fs, false)
}

func TestEveryLoopbackAddressIsOneSource(t *testing.T) {
	lim := testLimiter(LimitOptions{MaxPendingPerSource: 2, PendingTimeout: time.Hour})
	fs, _ := conns(t, lim, "127.0.0.1:1000", "127.0.0.2:1000", "[::1]:1000", "127.9.8.7:1000", "[::ffff:127.0.0.1]:1000")
	wantClosed(t, fs, true, true, true, false, false)
}

func TestTotalPendingCapClosesTheOldest(t *testing.T) {
	lim := testLimiter(LimitOptions{MaxPending: 2, PendingTimeout: time.Hour})
	fs, _ := conns(t, lim, "10.0.0.1:1", "10.0.0.2:1", "10.0.0.3:1")
	wantClosed(t, fs, true, false, false)
	wantCounted(t, lim, 1, 0)
}

func TestAuthenticatedConnectionsLeaveThePendingPool(t *testing.T) {
	lim := testLimiter(LimitOptions{MaxPendingPerSource: 1, PendingTimeout: time.Hour})
	fs, ts := conns(t, lim, "127.0.0.1:1000")
	if !lim.graduate(ts[0], roleAdmin.rank()) {
		t.Fatal("graduate refused under no cap")
	}
	// New pending connections from the same source no longer evict it,
	// and its pending deadline no longer applies.
	more, _ := conns(t, lim, "127.0.0.1:1001", "127.0.0.1:1002")
	ts[0].expire()
	wantClosed(t, fs, false)
	wantClosed(t, more, true, false)
}

func TestPendingDeadlineClosesOnlyPending(t *testing.T) {
	lim := testLimiter(LimitOptions{PendingTimeout: time.Hour})
	fs, ts := conns(t, lim, "10.0.0.1:1", "10.0.0.1:2")
	lim.graduate(ts[1], roleRead.rank())
	for _, c := range ts {
		c.expire()
	}
	wantClosed(t, fs, true, false)
	if read := len(lim.authed[roleRead.rank()].all); len(lim.pending.all) != 0 || read != 1 {
		t.Fatalf("pending %d, authenticated %d; want 0 and 1", len(lim.pending.all), read)
	}
	// Only the pending one counts, and once: a second expiry finds it gone.
	ts[0].expire()
	wantCounted(t, lim, 0, 1)
}

func TestPendingDeadlineTimerFires(t *testing.T) {
	lim := testLimiter(LimitOptions{PendingTimeout: time.Millisecond})
	fs, _ := conns(t, lim, "10.0.0.1:1")
	waitfor.Cond(t, 10*time.Second, "the pending connection to be closed", fs[0].closed.Load)
	wantCounted(t, lim, 0, 1)
}

// Each role has caps of its own: no token crowds out another role's
// connections. The read token, which every local user can read, cannot
// close the agents that connect over loopback (mirrored mode, WSL1; all of
// loopback is one source) nor keep them out, and an agent token cannot
// keep the admin out; within a role, an idle connection gives way.
func TestRolesHaveCapsOfTheirOwn(t *testing.T) {
	lim := testLimiter(LimitOptions{MaxAuthenticatedPerSource: 2, PendingTimeout: time.Hour})
	addrs := make([]string, 12)
	for i := range addrs {
		addrs[i] = fmt.Sprintf("127.0.0.%d:%d", 1+i%3, 1000+i)
	}
	fs, ts := conns(t, lim, addrs...)
	if !lim.graduate(ts[0], roleAgent.rank()) {
		t.Fatal("agent connection refused")
	}
	holdSession(ts[0].RemoteAddr())
	// A flood of read connections: each replaces an idle read one.
	for i := 1; i <= 6; i++ {
		if !lim.graduate(ts[i], roleRead.rank()) {
			t.Fatalf("read connection %d refused while an older idle one could give way", i)
		}
	}
	wantClosed(t, fs, false, true, true, true, true, false, false)
	// The agent's reconnect finds its role's room, and the admin its own.
	if !lim.graduate(ts[7], roleAgent.rank()) {
		t.Fatal("an agent connection was kept out by read connections")
	}
	for i := 8; i < 10; i++ {
		if !lim.graduate(ts[i], roleAdmin.rank()) {
			t.Fatalf("admin connection %d refused", i)
		}
	}
	wantClosed(t, fs, false, true, true, true, true, false, false, false, false, false)
	// A third agent connection may close the idle agent one, not the one
	// with a session.
	if !lim.graduate(ts[10], roleAgent.rank()) {
		t.Fatal("agent connection refused while an idle one could give way")
	}
	wantClosed(t, fs, false, true, true, true, true, false, false, true, false, false, false)
	holdSession(ts[10].RemoteAddr())
	if lim.graduate(ts[11], roleAgent.rank()) {
		t.Fatal("an agent connection closed one carrying an agent session")
	}
	if len(lim.pending.all) != 1 || lim.pending.all[0] != ts[11] {
		t.Fatal("the refused connection is not pending")
	}
	wantCounted(t, lim, 5, 0)
}

// An agent-token holder opening connections cannot close the ones that
// carry live agent sessions; idle ones of its role give way.
func TestConnectionsWithAgentSessionsDoNotGiveWay(t *testing.T) {
	lim := testLimiter(LimitOptions{MaxAuthenticatedPerSource: 2, PendingTimeout: time.Hour})
	fs, ts := conns(t, lim, "172.28.240.53:1", "172.28.240.53:2", "172.28.240.53:3", "172.28.240.53:4")
	for _, c := range ts[:2] {
		if !lim.graduate(c, roleAgent.rank()) {
			t.Fatal("agent connection refused")
		}
	}
	done := holdSession(ts[0].RemoteAddr())
	// The idle one gives way; the one with a session does not.
	if !lim.graduate(ts[2], roleAgent.rank()) {
		t.Fatal("third agent connection refused while an idle one could give way")
	}
	wantClosed(t, fs, false, true, false, false)
	holdSession(ts[2].RemoteAddr())
	if lim.graduate(ts[3], roleAgent.rank()) {
		t.Fatal("an agent connection closed one carrying an agent session")
	}
	wantClosed(t, fs, false, true, false, false)
	// Once its session ends, the connection may give way again.
	done()
	if !lim.graduate(ts[3], roleAgent.rank()) {
		t.Fatal("refused though the first connection's session ended")
	}
	wantClosed(t, fs, true, true, false, false)
}

func TestClosedConnectionIsForgotten(t *testing.T) {
	lim := testLimiter(LimitOptions{PendingTimeout: time.Hour})
	_, ts := conns(t, lim, "10.0.0.1:1", "10.0.0.1:2")
	lim.graduate(ts[1], roleAdmin.rank())
	ts[0].Close()
	ts[1].Close()
	n := len(lim.pending.all) + len(lim.pending.bySource)
	for _, p := range lim.authed {
		n += len(p.all) + len(p.bySource)
	}
	if n != 0 {
		t.Fatal("closed connections still tracked")
	}
	if lim.graduate(ts[0], roleAdmin.rank()) {
		t.Fatal("a closed connection graduated")
	}
}

func TestPeerAddressCarriesTheConnection(t *testing.T) {
	lim := testLimiter(LimitOptions{PendingTimeout: time.Hour})
	_, ts := conns(t, lim, "[::ffff:172.28.240.53]:4242")
	a := ts[0].RemoteAddr()
	if ca, ok := a.(*connAddr); !ok || ca.conn != ts[0] {
		t.Fatalf("RemoteAddr is %T, want the tracked connection's *connAddr", a)
	}
	if got := addrPort(a); got != netip.MustParseAddrPort("[::ffff:172.28.240.53]:4242") {
		t.Fatalf("addrPort = %v", got)
	}
	if under := ts[0].Conn.RemoteAddr(); a.String() != under.String() || a.Network() != "tcp" {
		t.Fatalf("address %s/%s", a.Network(), a)
	}
}

// A peer that has sent bytes the daemon has not read is not silent.
func TestUnreadBytesCountAsSpoken(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	client, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	nc, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	c, _ := testLimiter(LimitOptions{PendingTimeout: time.Hour}).admit(nc)
	defer c.Close()
	if !c.silent() {
		t.Fatal("a connection that sent nothing is not silent")
	}
	if _, err := client.Write([]byte("PRI")); err != nil {
		t.Fatal(err)
	}
	waitfor.Cond(t, 10*time.Second, "the sent bytes to count", func() bool { return !c.silent() })
}

func TestEvictionsAreLoggedAtABoundedRate(t *testing.T) {
	n := 0
	lim := newLimiter(LimitOptions{MaxPendingPerSource: 1, PendingTimeout: time.Hour}, slog.New(countHandler{slog.DiscardHandler, &n}), metrics.New())
	conns(t, lim, "10.0.0.1:1", "10.0.0.1:2", "10.0.0.1:3", "10.0.0.1:4")
	if n != 1 {
		t.Fatalf("%d log lines for 3 evictions within the interval, want 1", n)
	}
}

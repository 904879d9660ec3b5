package session_test

import (
	"net"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/wslfwd/wslfwd/agent-linux/session"
	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
)

func ports(ls []*wslfwdv1.Listener) []uint32 {
	var out []uint32
	for _, l := range ls {
		out = append(out, l.GetPort())
	}
	return out
}

func expectSnapshot(t *testing.T, m *wslfwdv1.AgentMessage, seq uint64, wantPorts ...uint32) *wslfwdv1.Snapshot {
	t.Helper()
	s := m.GetSnapshot()
	if s == nil || s.GetSeq() != seq || !slices.Equal(ports(s.GetListeners()), wantPorts) {
		t.Fatalf("got %v, want a snapshot seq %d with ports %v", m, seq, wantPorts)
	}
	return s
}

func expectChanges(t *testing.T, m *wslfwdv1.AgentMessage, seq uint64, added, removed []uint32) *wslfwdv1.Changes {
	t.Helper()
	c := m.GetChanges()
	if c == nil || c.GetSeq() != seq || !slices.Equal(ports(c.GetAdded()), added) || !slices.Equal(ports(c.GetRemoved()), removed) {
		t.Fatalf("got %v, want changes seq %d adding %v removing %v", m, seq, added, removed)
	}
	return c
}

func TestHelloSnapshotChangesResync(t *testing.T) {
	d := startDaemon(t, testToken)
	h := newHarness(t, d.addr, testToken)
	h.run(t)

	fs := d.nextStream(t)
	if fs.auth != "Bearer "+testToken {
		t.Errorf("authorization metadata %q, want the bearer token", fs.auth)
	}
	if hello := fs.next(t).GetHello(); !proto.Equal(hello, testHello) {
		t.Fatalf("first message hello %v, want %v", hello, testHello)
	}
	snap := expectSnapshot(t, fs.next(t), 1, 8080)
	if !proto.Equal(snap.GetNetwork(), netWith("172.28.240.53")) {
		t.Errorf("snapshot network %v", snap.GetNetwork())
	}

	h.change(t, netWith("172.28.240.53"), tcp(8080, 1), tcp(9090, 2))
	expectChanges(t, fs.next(t), 2, []uint32{9090}, nil)
	h.change(t, netWith("172.28.240.60"), tcp(9090, 2))
	c := expectChanges(t, fs.next(t), 3, nil, []uint32{8080})
	if !proto.Equal(c.GetNetwork(), netWith("172.28.240.60")) {
		t.Errorf("changes network %v, want the new address", c.GetNetwork())
	}

	fs.out <- &wslfwdv1.HostMessage{Msg: &wslfwdv1.HostMessage_Resync{Resync: &wslfwdv1.ResyncRequest{Reason: "test"}}}
	expectSnapshot(t, fs.next(t), 4, 9090)
	fs.out <- &wslfwdv1.HostMessage{Msg: &wslfwdv1.HostMessage_Ack{Ack: &wslfwdv1.Ack{Seq: 4}}}
	h.change(t, netWith("172.28.240.60"))
	expectChanges(t, fs.next(t), 5, nil, []uint32{9090})
}

func TestReconnectSendsCurrentTruth(t *testing.T) {
	d, h, fs := twoListeners(t)

	// The daemon goes away and refuses the agent for a while; meanwhile a
	// listener closes and another opens.
	d.reject.Store(true)
	before := d.attempts.Load()
	fs.end <- status.Error(codes.Unavailable, "daemon shutting down")
	waitFor(t, "the agent to retry while the daemon refuses", func() bool { return d.attempts.Load() >= before+2 })
	h.change(t, netWith("172.28.240.53"), tcp(9090, 2), tcp(5432, 3))
	d.reject.Store(false)

	fs = d.nextStream(t)
	if hello := fs.next(t).GetHello(); !proto.Equal(hello, testHello) {
		t.Fatalf("after reconnect: first message %v, want the hello", hello)
	}
	expectSnapshot(t, fs.next(t), 1, 5432, 9090)
	h.change(t, netWith("172.28.240.53"), tcp(5432, 3))
	expectChanges(t, fs.next(t), 2, nil, []uint32{9090})
	if logs := h.logs.String(); !strings.Contains(logs, "daemon unreachable at "+d.addr) || !strings.Contains(logs, "daemon restarting") {
		t.Errorf("logs do not explain the refusal:\n%s", logs)
	}

	// A stream the daemon ends cleanly is reopened too.
	fs.end <- nil
	fs = d.nextStream(t)
	fs.next(t)
	expectSnapshot(t, fs.next(t), 1, 5432)
}

// A token the daemon rejects is reported once however often the agent
// retries, and each retry is a new connection, whose handshake reads the
// token file again: a token written there meanwhile is used.
func TestRejectedTokenIsReportedOnce(t *testing.T) {
	stale := strings.Repeat("f", 64)
	d := startDaemon(t, testToken, stale)
	h := newHarness(t, d.addr, stale)
	h.run(t)
	waitFor(t, "several rejected attempts", func() bool { return d.attempts.Load() >= 4 })
	logs := h.logs.String()
	if n := strings.Count(logs, "rejected the token from "+h.cfg.TokenFile); n != 1 {
		t.Errorf("rejection logged %d times, want once:\n%s", n, logs)
	}
	if !strings.Contains(logs, "Unauthenticated") && !strings.Contains(logs, "invalid token") {
		t.Errorf("log does not carry the daemon's reason:\n%s", logs)
	}
	if err := os.WriteFile(h.cfg.TokenFile, []byte(testToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if fs := d.nextStream(t); fs.auth != "Bearer "+testToken {
		t.Errorf("stream after the token file changed carries %q", fs.auth)
	}
}

// A peer that cannot prove it holds the agent's token (a program on the
// daemon's port, or a daemon with another token) gets no stream and no
// token, and the agent says so once.
func TestUnprovenDaemonGetsNothing(t *testing.T) {
	d := startDaemon(t, testToken)
	h := newHarness(t, d.addr, strings.Repeat("f", 64))
	h.run(t)
	waitFor(t, "several refused handshakes", func() bool { return d.unproven.Load() >= 4 })
	logs := h.logs.String()
	if n := strings.Count(logs, "did not prove it holds the token from "+h.cfg.TokenFile+", so the token was not sent"); n != 1 {
		t.Errorf("refusal logged %d times, want once:\n%s", n, logs)
	}
	if n := d.attempts.Load(); n != 0 {
		t.Errorf("the agent opened %d streams", n)
	}
}

func TestMissingTokenFile(t *testing.T) {
	d := startDaemon(t, testToken)
	h := newHarness(t, d.addr, "")
	h.run(t)
	waitFor(t, "the missing token to be reported", func() bool {
		return strings.Contains(h.logs.String(), h.cfg.TokenFile+" does not exist")
	})
	if n := d.attempts.Load(); n != 0 {
		t.Errorf("the agent opened %d streams without a token", n)
	}
}

// A token file opened to group or others after the agent started is
// refused at the next connection: the token is not sent.
func TestSharedTokenFileRefused(t *testing.T) {
	d := startDaemon(t, testToken)
	h := newHarness(t, d.addr, testToken)
	if err := os.Chmod(h.cfg.TokenFile, 0o644); err != nil {
		t.Fatal(err)
	}
	h.run(t)
	waitFor(t, "the open token file to be reported", func() bool {
		return strings.Contains(h.logs.String(), "chmod 600 "+h.cfg.TokenFile)
	})
	if n := d.attempts.Load(); n != 0 {
		t.Errorf("the agent opened %d streams with a token others can read", n)
	}
}

func TestUnreachableNamesAddressAndWhy(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	h := newHarness(t, addr, testToken)
	h.run(t)
	waitFor(t, "the unreachable daemon to be reported", func() bool {
		return strings.Contains(h.logs.String(), "daemon unreachable at "+addr+" (test: the fake daemon)")
	})
}

// When the address the agent's connection uses leaves its interfaces (a
// new address on eth0), the agent reconnects at once rather than waiting
// for keepalive to find the connection dead. Here the connection is
// healthy (loopback), so only the check can end it.
func TestLocalAddressGoneReconnects(t *testing.T) {
	d := startDaemon(t, testToken)
	h := newHarness(t, d.addr, testToken)
	h.change(t, netWith("127.0.0.1"), tcp(8080, 1)) // the address the agent dials from
	h.run(t)
	fs := d.nextStream(t)
	fs.next(t) // hello
	expectSnapshot(t, fs.next(t), 1, 8080)

	// Another network change that keeps the address changes nothing.
	keep := netWith("127.0.0.1")
	keep.Interfaces[0].Mtu = 1400
	h.change(t, keep, tcp(8080, 1))
	expectChanges(t, fs.next(t), 2, nil, nil)

	h.change(t, netWith("172.28.240.54"), tcp(8080, 1))
	fs = d.nextStream(t)
	if hello := fs.next(t).GetHello(); !proto.Equal(hello, testHello) {
		t.Fatalf("after the address went: first message %v, want a new hello", hello)
	}
	snap := expectSnapshot(t, fs.next(t), 1, 8080)
	if !proto.Equal(snap.GetNetwork(), netWith("172.28.240.54")) {
		t.Fatalf("snapshot network %v, want the new address", snap.GetNetwork())
	}
}

// TestListenersOverTheLimit: with more listeners than the daemon's welcome
// accepts, the agent reports the oldest sockets (lowest inodes) and says
// how many it left out, rather than send them all and have the daemon
// refuse every one; as reported sockets close, the next oldest take their
// places, and a new socket, whatever its inode, does not displace one
// reported.
func TestListenersOverTheLimit(t *testing.T) {
	d := startDaemon(t, testToken)
	d.max.Store(2)
	h := newHarness(t, d.addr, testToken)
	h.change(t, netWith("172.28.240.53"), tcp(9000, 30), tcp(8080, 10), tcp(5432, 20))
	h.run(t)
	fs := d.nextStream(t)
	fs.next(t) // hello
	if snap := expectSnapshot(t, fs.next(t), 1, 5432, 8080); snap.GetUnreportedListeners() != 1 {
		t.Errorf("snapshot unreported_listeners = %d, want 1", snap.GetUnreportedListeners())
	}
	// Logged just after the send the daemon saw.
	waitFor(t, "the agent to warn of the listener left out", func() bool {
		logs := h.logs.String()
		return strings.Contains(logs, "more listeners than the daemon accepts") && strings.Contains(logs, "unreported=1")
	})

	// A new socket (the highest inode) stays out; the count grows.
	h.change(t, netWith("172.28.240.53"), tcp(9000, 30), tcp(8080, 10), tcp(5432, 20), tcp(3000, 40))
	c := expectChanges(t, fs.next(t), 2, nil, nil)
	if c.UnreportedListeners == nil || c.GetUnreportedListeners() != 2 {
		t.Errorf("changes unreported_listeners = %v, want 2", c.UnreportedListeners)
	}
	// A status request (`wslfwd-agent status`) learns which. The stream
	// sends it after seq 2, whose sending the session noted.
	got, _ := startReport(t, h)
	expectChanges(t, fs.next(t), 3, nil, nil)
	fs.out <- &wslfwdv1.HostMessage{Msg: &wslfwdv1.HostMessage_ForwardStatus{ForwardStatus: &wslfwdv1.ForwardStatusUpdate{Seq: 3}}}
	r := <-got
	for _, l := range []*wslfwdv1.Listener{tcp(9000, 30), tcp(3000, 40), tcp(8080, 10)} {
		if want := l.GetInode() >= 30; r.Unreported(l) != want || r.MaxListeners != 2 {
			t.Errorf("Report: inode %d unreported %v (max %d), want %v (2)", l.GetInode(), r.Unreported(l), r.MaxListeners, want)
		}
	}

	// A reported socket closes: the oldest left out takes its place.
	h.change(t, netWith("172.28.240.53"), tcp(9000, 30), tcp(5432, 20), tcp(3000, 40))
	c = expectChanges(t, fs.next(t), 4, []uint32{9000}, []uint32{8080})
	if c.UnreportedListeners == nil || c.GetUnreportedListeners() != 1 {
		t.Errorf("changes unreported_listeners = %v, want 1", c.UnreportedListeners)
	}

	// A socket with a lower inode than those reported (the kernel's
	// counter wrapped, or another CPU's batch) does not displace them.
	h.change(t, netWith("172.28.240.53"), tcp(9000, 30), tcp(5432, 20), tcp(3000, 40), tcp(7000, 15))
	c = expectChanges(t, fs.next(t), 5, nil, nil)
	if c.UnreportedListeners == nil || c.GetUnreportedListeners() != 2 {
		t.Errorf("changes unreported_listeners = %v, want 2", c.UnreportedListeners)
	}
	// Nor after a reconnect: the new stream's snapshot keeps to what the
	// last one reported, not to the lowest inodes.
	fs.end <- status.Error(codes.Unavailable, "daemon restarting")
	fs = d.nextStream(t)
	fs.next(t) // hello
	if snap := expectSnapshot(t, fs.next(t), 1, 5432, 9000); snap.GetUnreportedListeners() != 2 {
		t.Errorf("snapshot after reconnect: unreported_listeners = %d, want 2", snap.GetUnreportedListeners())
	}
	h.change(t, netWith("172.28.240.53"), tcp(9000, 30), tcp(5432, 20), tcp(3000, 40))
	if c := expectChanges(t, fs.next(t), 2, nil, nil); c.GetUnreportedListeners() != 1 {
		t.Errorf("changes unreported_listeners = %v, want 1", c.UnreportedListeners)
	}

	// Within the limit again: all reported, and the count says none.
	h.change(t, netWith("172.28.240.53"), tcp(9000, 30))
	c = expectChanges(t, fs.next(t), 3, nil, []uint32{5432})
	if c.UnreportedListeners == nil || c.GetUnreportedListeners() != 0 {
		t.Errorf("changes unreported_listeners = %v, want a present 0", c.UnreportedListeners)
	}
	h.change(t, netWith("172.28.240.53"), tcp(9000, 30), tcp(3000, 40))
	if c := expectChanges(t, fs.next(t), 4, []uint32{3000}, nil); c.UnreportedListeners != nil {
		t.Errorf("changes carry unreported_listeners %d where the count did not change", c.GetUnreportedListeners())
	}
	got, _ = startReport(t, h)
	expectChanges(t, fs.next(t), 5, nil, nil)
	fs.out <- &wslfwdv1.HostMessage{Msg: &wslfwdv1.HostMessage_ForwardStatus{ForwardStatus: &wslfwdv1.ForwardStatusUpdate{Seq: 5}}}
	if r := <-got; r.Unreported(tcp(3000, 40)) || !r.ActedOn(tcp(3000, 40)) {
		t.Errorf("Report within the limit: 3000 unreported %v, acted on %v; want reported and acted on", r.Unreported(tcp(3000, 40)), r.ActedOn(tcp(3000, 40)))
	}
}

// An agent that restarted told the daemon nothing yet: over the limit,
// its first snapshot keeps to the sockets the welcome says the daemon
// holds for the distro, not to the lowest inodes.
func TestRestartedAgentKeepsWhatTheDaemonHolds(t *testing.T) {
	d := startDaemon(t, testToken)
	d.max.Store(2)
	d.held.Store(&[]uint64{20, 30, 99}) // 99: closed while the agent was down
	h := newHarness(t, d.addr, testToken)
	h.change(t, netWith("172.28.240.53"), tcp(9000, 30), tcp(8080, 10), tcp(5432, 20))
	h.run(t)
	fs := d.nextStream(t)
	fs.next(t) // hello
	if snap := expectSnapshot(t, fs.next(t), 1, 5432, 9000); snap.GetUnreportedListeners() != 1 {
		t.Errorf("snapshot unreported_listeners = %d, want 1", snap.GetUnreportedListeners())
	}
}

// A daemon that takes the stream but never welcomes the hello does not
// hold the agent: it gives up on the stream and connects again, and sends
// no snapshot, which must keep to the welcome's limit, meanwhile.
func TestNoWelcomeReconnects(t *testing.T) {
	old := session.SetWelcomeTimeout(100 * time.Millisecond)
	t.Cleanup(func() { session.SetWelcomeTimeout(old) }) // after the agent stops: cleanups run last first
	d := startDaemon(t, testToken)
	d.silent.Store(true)
	h := newHarness(t, d.addr, testToken)
	h.run(t)
	fs := d.nextStream(t)
	if m := fs.next(t); m.GetHello() == nil {
		t.Fatalf("first message %v, want the hello", m)
	}
	first := fs
	fs = d.nextStream(t) // the agent gave up on the first and opened another
	if m := fs.next(t); m.GetHello() == nil {
		t.Fatalf("on the second stream: first message %v, want the hello", m)
	}
	for m := range first.in { // closed once the stream ended
		t.Errorf("the unwelcomed stream carried %v after the hello", m)
	}
	waitFor(t, "the agent to log why", func() bool { return strings.Contains(h.logs.String(), "no welcome from the daemon") })
}

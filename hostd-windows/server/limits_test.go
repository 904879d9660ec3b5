package server

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/hostd-windows/agents"
	"github.com/wslfwd/wslfwd/internal/tokentls"
	"github.com/wslfwd/wslfwd/internal/waitfor"
)

// rawCodec sends []byte messages as they are, so a test can send bytes
// that are not a valid protobuf.
type rawCodec struct{}

func (rawCodec) Name() string { return "proto" }

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	return mem.BufferSlice{mem.SliceBuffer(v.([]byte))}, nil
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	*v.(*[]byte) = data.Materialize()
	return nil
}

// garbage is not a protobuf: field number 0 is invalid.
var garbage = []byte{0x00, 0xff, 0xff, 0xff}

func TestMalformedUnaryRequestIsInvalidArgument(t *testing.T) {
	f := start(t, Options{})
	cc := f.dial(t, f.tokens.Admin)
	var reply []byte
	err := cc.Invoke(ctx(t), wslfwdv1.ControlService_GetStatus_FullMethodName, garbage, &reply, grpc.ForceCodecV2(rawCodec{}))
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("garbage GetStatus: %v, want InvalidArgument", err)
	}
	// A well-formed request still reaches the handler.
	err = cc.Invoke(ctx(t), wslfwdv1.ControlService_GetStatus_FullMethodName, []byte{}, &reply, grpc.ForceCodecV2(rawCodec{}))
	if status.Code(err) != codes.Unimplemented {
		t.Fatalf("empty GetStatus: %v, want the stand-in's Unimplemented", err)
	}
}

func TestMalformedStreamMessageIsInvalidArgument(t *testing.T) {
	f := start(t, Options{})
	cc := f.dial(t, f.tokens.Agent)
	desc := &grpc.StreamDesc{ClientStreams: true, ServerStreams: true}
	st, err := cc.NewStream(ctx(t), desc, wslfwdv1.AgentService_Session_FullMethodName, grpc.ForceCodecV2(rawCodec{}))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SendMsg(garbage); err != nil && !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	var reply []byte
	if err := st.RecvMsg(&reply); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("garbage hello: %v, want InvalidArgument", err)
	}
	if len(f.reg.Agents()) != 0 {
		t.Fatal("a garbage hello registered an agent")
	}
}

func TestSessionWithoutSnapshotEnds(t *testing.T) {
	f := start(t, Options{SnapshotTimeout: 50 * time.Millisecond, MaxStreamsPerPeer: 1})
	cc := f.dial(t, f.tokens.Agent)
	st, c := session(t, cc, natHello("Ubuntu"))
	if c != codes.OK {
		t.Fatal(c)
	}
	if _, err := st.Recv(); status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("session without a snapshot: %v, want DeadlineExceeded", err)
	}
	// Its slot is free again.
	if _, c := session(t, cc, natHello("Ubuntu")); c != codes.OK {
		t.Fatalf("session after a timed-out one: %s", c)
	}
}

// A client with a token gets in past pending connections that fill the
// per-source cap, and the idle ones give way.
func TestTokenClientGetsPastIdleConnections(t *testing.T) {
	f := start(t, Options{Limits: LimitOptions{MaxPendingPerSource: 2}})
	var idle []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", f.addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		idle = append(idle, c)
	}
	cc := f.dial(t, f.tokens.Read)
	_, err := wslfwdv1.NewControlServiceClient(cc).GetStatus(ctx(t), &wslfwdv1.GetStatusRequest{})
	if status.Code(err) != codes.Unimplemented {
		t.Fatalf("GetStatus past idle connections: %v", err)
	}
	// The oldest idle connection was closed by the daemon.
	idle[0].SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadAll(idle[0]); err != nil {
		t.Fatalf("oldest idle connection: %v, want closed by the daemon", err)
	}
	// The client's connection graduated at its call: it is no longer
	// pending, so later idle connections cannot push it out.
	lim := f.srv.lim
	lim.mu.Lock()
	pending, authed := len(lim.pending.all), len(lim.authed[roleRead.rank()].all)
	lim.mu.Unlock()
	if pending != 1 || authed != 1 {
		t.Fatalf("%d pending and %d authenticated connections, want 1 and 1", pending, authed)
	}
}

// A call without a token is refused before its body is read.
func TestNoTokenRefusedAtHeaders(t *testing.T) {
	f := start(t, Options{MaxRecvMsgSize: 1 << 10})
	cc := f.dial(t, "")
	var reply []byte
	big := make([]byte, 1<<20) // past MaxRecvMsgSize: read, it would be ResourceExhausted
	err := cc.Invoke(ctx(t), wslfwdv1.ControlService_GetStatus_FullMethodName, big, &reply, grpc.ForceCodecV2(rawCodec{}))
	if status.Code(err) != codes.Unauthenticated {
		t.Fatalf("tokenless call: %v, want Unauthenticated", err)
	}
	// Its connection is the first to give way to a new one.
	lim := f.srv.lim
	lim.mu.Lock()
	defer lim.mu.Unlock()
	if len(lim.pending.all) != 1 || !lim.pending.all[0].refused.Load() {
		t.Fatal("the connection of a refused call is not marked refused")
	}
}

// dialFrom connects from a chosen loopback address.
func (f *fixture) dialFrom(t *testing.T, from, tok string) *grpc.ClientConn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	cc, err := grpc.NewClient("passthrough:///"+f.addr,
		grpc.WithTransportCredentials(tokentls.ClientOf(tok)),
		grpc.WithPerRPCCredentials(tokentls.Bearer{}),
		grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			return d.DialContext(ctx, "tcp", addr)
		}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

func TestAgentSessionsFromAnyLoopbackAddressShareOneCap(t *testing.T) {
	f := start(t, Options{MaxStreamsPerPeer: 1})
	if _, c := session(t, f.dialFrom(t, "127.0.0.1", f.tokens.Agent), natHello("Ubuntu")); c != codes.OK {
		t.Fatalf("first session: %s", c)
	}
	if _, c := session(t, f.dialFrom(t, "127.0.0.2", f.tokens.Agent), natHello("Debian")); c != codes.ResourceExhausted {
		t.Fatalf("second session, from another loopback address: %s, want ResourceExhausted", c)
	}
}

// scriptedStream is an agent session's stream that receives msgs, then
// io.EOF.
type scriptedStream struct {
	// nil: only Recv is called.
	grpc.BidiStreamingServer[wslfwdv1.AgentMessage, wslfwdv1.HostMessage]

	msgs []*wslfwdv1.AgentMessage
}

func (s *scriptedStream) Recv() (*wslfwdv1.AgentMessage, error) {
	if len(s.msgs) == 0 {
		return nil, io.EOF
	}
	m := s.msgs[0]
	s.msgs = s.msgs[1:]
	return m, nil
}

// Only a snapshot that registers the session stops its deadline: a
// refused one, or one the registry answers with a resync, must not let a
// session hold its slot for ever.
func TestOnlyAnAcceptedSnapshotStopsTheDeadline(t *testing.T) {
	reg := agents.New(agents.Options{Grace: time.Hour, MaxListeners: 4, Targets: agents.TargetRules{AllowLoopback: true}})
	a := &agentService{reg: reg, log: slog.New(slog.DiscardHandler)}
	peer := netip.MustParseAddrPort("127.0.0.1:50000")
	seq0 := snapshotMsg("127.0.0.1")
	seq0.GetSnapshot().Seq = 0
	badPort := snapshotMsg("127.0.0.1", &wslfwdv1.Listener{Protocol: wslfwdv1.Protocol_PROTOCOL_TCP,
		Family: wslfwdv1.AddressFamily_ADDRESS_FAMILY_IPV4, Listen: "0.0.0.0", Port: 70000})
	for _, c := range []struct {
		name    string
		msg     *wslfwdv1.AgentMessage
		wantErr codes.Code
		stopped bool
	}{
		{"seq 0", seq0, codes.InvalidArgument, false},
		{"bad listener", badPort, codes.InvalidArgument, false},
		{"accepted", snapshotMsg("127.0.0.1"), codes.OK, true},
	} {
		s, err := reg.Open(natHello("Ubuntu"), peer, netip.MustParseAddrPort("127.0.0.1:17810"))
		if err != nil {
			t.Fatal(err)
		}
		deadline := time.NewTimer(time.Hour)
		err = a.receive(&scriptedStream{msgs: []*wslfwdv1.AgentMessage{c.msg}}, s, deadline)
		if errors.Is(err, io.EOF) {
			err = nil
		}
		if status.Code(err) != c.wantErr {
			t.Fatalf("%s: %v, want %s", c.name, err, c.wantErr)
		}
		if running := deadline.Stop(); running == c.stopped {
			t.Fatalf("%s: deadline running %v, want %v", c.name, running, !c.stopped)
		}
		reg.Close(s)
	}
}

// Fields the daemon does not know are dropped as a message is decoded,
// nested ones too: nothing checks their size, and the registry keeps an
// agent's listeners for as long as they are held.
func TestCodecKeepsNoUnknownFields(t *testing.T) {
	l := &wslfwdv1.Listener{Protocol: wslfwdv1.Protocol_PROTOCOL_TCP, Listen: "0.0.0.0", Port: 80}
	known, err := proto.Marshal(&wslfwdv1.AgentMessage{Msg: &wslfwdv1.AgentMessage_Snapshot{Snapshot: &wslfwdv1.Snapshot{Seq: 1, Listeners: []*wslfwdv1.Listener{l}}}})
	if err != nil {
		t.Fatal(err)
	}
	padded, err := proto.Marshal(l)
	if err != nil {
		t.Fatal(err)
	}
	pad := protowire.AppendTag(nil, 999, protowire.BytesType)
	pad = protowire.AppendBytes(pad, make([]byte, 1<<20))
	padded = append(padded, pad...)
	// The snapshot again, its listener carrying a megabyte of field 999, and
	// field 998 on the message itself.
	snap := protowire.AppendTag(nil, 1, protowire.VarintType)
	snap = protowire.AppendVarint(snap, 1)
	snap = protowire.AppendTag(snap, 3, protowire.BytesType)
	snap = protowire.AppendBytes(snap, padded)
	data := protowire.AppendTag(nil, 2, protowire.BytesType)
	data = protowire.AppendBytes(data, snap)
	data = append(data, protowire.AppendBytes(protowire.AppendTag(nil, 998, protowire.BytesType), []byte("x"))...)

	var m wslfwdv1.AgentMessage
	c := newCodec(8)
	if err := c.Unmarshal(mem.BufferSlice{mem.SliceBuffer(data)}, &m); err != nil {
		t.Fatal(err)
	}
	if err := c.take(&m); err != nil {
		t.Fatalf("a message with unknown fields did not decode: %v", err)
	}
	got, err := proto.Marshal(&m)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(known) {
		t.Fatalf("decoded message re-encodes to %d bytes, want the %d of its known fields", len(got), len(known))
	}
	if ls := m.GetSnapshot().GetListeners(); len(ls) != 1 || ls[0].GetPort() != 80 {
		t.Fatalf("decoded listeners %v, want the one on port 80", ls)
	}
}

// An agent message that lists more listeners than the codec's bound is
// refused before it is decoded, however small each entry: the registry's
// own count would come only after protobuf allocated every one.
func TestCodecRefusesTooManyListenersUndecoded(t *testing.T) {
	l := &wslfwdv1.Listener{Protocol: wslfwdv1.Protocol_PROTOCOL_TCP, Family: wslfwdv1.AddressFamily_ADDRESS_FAMILY_IPV4, Listen: "0.0.0.0", Port: 80}
	for _, tc := range []struct {
		name string
		m    *wslfwdv1.AgentMessage
		ok   bool
	}{
		{"a snapshot at the bound", &wslfwdv1.AgentMessage{Msg: &wslfwdv1.AgentMessage_Snapshot{Snapshot: &wslfwdv1.Snapshot{Seq: 1, Listeners: slices.Repeat([]*wslfwdv1.Listener{l}, 8)}}}, true},
		{"a snapshot past it", &wslfwdv1.AgentMessage{Msg: &wslfwdv1.AgentMessage_Snapshot{Snapshot: &wslfwdv1.Snapshot{Seq: 1, Listeners: slices.Repeat([]*wslfwdv1.Listener{l}, 9)}}}, false},
		{"changes past it, added and removed together", &wslfwdv1.AgentMessage{Msg: &wslfwdv1.AgentMessage_Changes{Changes: &wslfwdv1.Changes{Seq: 2,
			Added: slices.Repeat([]*wslfwdv1.Listener{l}, 5), Removed: slices.Repeat([]*wslfwdv1.Listener{l}, 4)}}}, false},
	} {
		data, err := proto.Marshal(tc.m)
		if err != nil {
			t.Fatal(err)
		}
		var m wslfwdv1.AgentMessage
		c := newCodec(8)
		if err := c.Unmarshal(mem.BufferSlice{mem.SliceBuffer(data)}, &m); err != nil {
			t.Fatal(err)
		}
		err = c.take(&m)
		switch {
		case tc.ok && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case !tc.ok && (status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "more than the 8")):
			t.Errorf("%s: %v, want InvalidArgument naming the bound", tc.name, err)
		case !tc.ok && m.GetMsg() != nil:
			t.Errorf("%s: decoded all the same", tc.name)
		}
	}
}

// The daemon's message bound is what an agent at the listener limit
// needs, not gRPC's 4 MiB: a message past it is refused as it arrives.
func TestMessageBoundFollowsTheListenerLimit(t *testing.T) {
	f := start(t, Options{})
	bound := agents.MaxMessageSize(f.reg.MaxListeners())
	st, c := session(t, f.dial(t, f.tokens.Agent), natHello("Ubuntu"))
	if c != codes.OK {
		t.Fatalf("session: %s", c)
	}
	big := &wslfwdv1.AgentMessage{Msg: &wslfwdv1.AgentMessage_EchoReady{EchoReady: &wslfwdv1.EchoReady{ProbeId: strings.Repeat("x", bound)}}}
	if err := st.Send(big); err != nil && err != io.EOF {
		t.Fatal(err)
	}
	if _, err := st.Recv(); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("a message of %d bytes: %v, want ResourceExhausted", proto.Size(big), err)
	}
}

// A session whose agent leaves more listener statuses unread than twice
// its listener limit ends with ResourceExhausted (agents.Session.Unread).
func TestSessionEndsWhenStatusesGoUnread(t *testing.T) {
	f := start(t, Options{})
	st, c := session(t, f.dial(t, f.tokens.Agent), natHello("Ubuntu"))
	if c != codes.OK {
		t.Fatalf("session: %s", c)
	}
	if err := st.Send(snapshotMsg("127.0.0.1")); err != nil {
		t.Fatal(err)
	}
	waitfor.Cond(t, 10*time.Second, "the agent registered", func() bool { return len(f.reg.Agents()) == 1 })
	as, _, _ := f.reg.State()
	var statuses []*wslfwdv1.ListenerStatus
	for p := range uint32(2*f.reg.MaxListeners() + 1) {
		statuses = append(statuses, &wslfwdv1.ListenerStatus{Protocol: wslfwdv1.Protocol_PROTOCOL_TCP, Listen: "10.1.2.3", Port: 1 + p,
			State: wslfwdv1.ForwardState_FORWARD_STATE_BLOCKED})
	}
	as[0].Session.Reply(statuses, 1)
	for {
		_, err := st.Recv()
		if err == nil {
			continue
		}
		if status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "does not read") {
			t.Fatalf("the stream ended with %v, want ResourceExhausted saying the agent does not read", err)
		}
		return
	}
}

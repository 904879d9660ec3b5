//go:build linux

package adversary

import (
	"context"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/hostd-windows/server"
	"github.com/wslfwd/wslfwd/internal/token"
	"github.com/wslfwd/wslfwd/internal/tokentls"
	"github.com/wslfwd/wslfwd/lab/labrun"
)

// agentConn is a gRPC connection from wsl to the daemon with the agent
// token, as an agent (or root in any distro) would make.
func agentConn(t *testing.T, env *labrun.Env, opts ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	tok, err := token.Load(env.AgentTokenFile)
	if err != nil {
		t.Fatal(err)
	}
	opts = append([]grpc.DialOption{
		grpc.WithTransportCredentials(tokentls.ClientOf(tok)),
		grpc.WithPerRPCCredentials(tokentls.Bearer{}),
		grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			return env.Lab.WSL.Dial(ctx, "tcp", addr)
		})}, opts...) // the caller's options last: they may dial otherwise
	cc, err := grpc.NewClient("passthrough:///"+labrun.DaemonWSL.String(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

// A hello that never sends a snapshot is ended by the daemon.
func TestSessionWithoutSnapshotIsClosed(t *testing.T) {
	ctx, env := startDaemon(t, time.Minute)
	st, err := wslfwdv1.NewAgentServiceClient(agentConn(t, env)).Session(ctx)
	if err != nil {
		t.Fatal(err)
	}
	hello := &wslfwdv1.AgentHello{Distro: "Squatter", NetworkingMode: wslfwdv1.NetworkingMode_NETWORKING_MODE_NAT, ProtocolRevision: 1}
	if err := st.Send(&wslfwdv1.AgentMessage{Msg: &wslfwdv1.AgentMessage_Hello{Hello: hello}}); err != nil {
		t.Fatal(err)
	}
	if m, err := st.Recv(); err != nil || m.GetWelcome() == nil {
		t.Fatalf("hello: %v, %v; want a welcome", m, err)
	}
	start := time.Now()
	_, err = st.Recv()
	took := time.Since(start)
	t.Logf("a session without a snapshot was ended after %v: %v", took.Round(time.Millisecond), err)
	if status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("session without a snapshot: %v, want DeadlineExceeded", err)
	}
	if took > server.DefaultSnapshotTimeout+5*time.Second {
		t.Fatalf("ended after %v, want about %v", took, server.DefaultSnapshotTimeout)
	}
}

// rawCodec sends []byte messages as they are.
type rawCodec struct{}

func (rawCodec) Name() string { return "proto" }
func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	return mem.BufferSlice{mem.SliceBuffer(v.([]byte))}, nil
}
func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	*v.(*[]byte) = data.Materialize()
	return nil
}

// A malformed protobuf gets InvalidArgument, on a call and on a stream.
func TestMalformedProtobuf(t *testing.T) {
	ctx, env := startDaemon(t, time.Minute)
	garbage := []byte{0x00, 0xff, 0xff, 0xff} // field number 0 is invalid
	var reply []byte
	err := adminConn(t, env).Invoke(ctx, wslfwdv1.ControlService_GetStatus_FullMethodName, garbage, &reply, grpc.ForceCodecV2(rawCodec{}))
	t.Logf("malformed GetStatus: %v", err)
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("malformed GetStatus: %v, want InvalidArgument", err)
	}
	st, err := agentConn(t, env).NewStream(ctx, &grpc.StreamDesc{ClientStreams: true, ServerStreams: true},
		wslfwdv1.AgentService_Session_FullMethodName, grpc.ForceCodecV2(rawCodec{}))
	if err != nil {
		t.Fatal(err)
	}
	st.SendMsg(garbage)
	err = st.RecvMsg(&reply)
	t.Logf("malformed hello: %v", err)
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("malformed hello: %v, want InvalidArgument", err)
	}
}

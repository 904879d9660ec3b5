package server

import (
	"context"
	"fmt"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	protov2 "google.golang.org/protobuf/proto"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/hostd-windows/agents"
)

// codec is gRPC's protobuf codec, except that it keeps no unknown fields
// and that a message that does not decode gets InvalidArgument, as any
// other malformed input does. Unknown fields would otherwise stay in the
// messages the registry holds (a listener with a megabyte of them, times
// every listener of every agent, for as long as it is held), where no
// check of the fields the daemon knows can bound them. gRPC
// turns every codec error into Internal, whatever its type, so the codec
// cannot say it itself: it notes the failure against the message, decodes
// nothing, and the interceptors (which run next on the same call, and see
// the same message) return the error. Malformed input never reaches a
// handler.
//
// An agent message that lists more listeners than maxListeners (a
// snapshot's, or a change's added and removed together) is refused before
// it is decoded: protobuf would allocate each (about 150 bytes for 12 on
// the wire) before the registry could count them.
type codec struct {
	encoding.CodecV2
	maxListeners int      // in one agent message; 0: no bound
	bad          sync.Map // message (a pointer) → its decoding error
}

func newCodec(maxListeners int) *codec {
	return &codec{CodecV2: encoding.GetCodecV2(proto.Name), maxListeners: maxListeners}
}

func (c *codec) Unmarshal(data mem.BufferSlice, v any) error {
	if err := c.unmarshal(data, v); err != nil {
		c.bad.Store(v, err)
	}
	return nil
}

func (c *codec) unmarshal(data mem.BufferSlice, v any) error {
	m, ok := v.(protov2.Message)
	if !ok {
		return fmt.Errorf("cannot decode into %T, not a protobuf message", v)
	}
	buf := data.MaterializeToBuffer(mem.DefaultBufferPool())
	defer buf.Free()
	b := buf.ReadOnlyData()
	if _, agent := v.(*wslfwdv1.AgentMessage); agent && c.maxListeners > 0 {
		n, err := agents.ListenerEntries(b)
		if err != nil {
			return err
		}
		if n > c.maxListeners {
			return fmt.Errorf("%d listeners in one message, more than the %d an agent may send", n, c.maxListeners)
		}
	}
	return protov2.UnmarshalOptions{DiscardUnknown: true}.Unmarshal(b, m)
}

// take returns InvalidArgument if v did not decode, and forgets it.
func (c *codec) take(v any) error {
	if err, ok := c.bad.LoadAndDelete(v); ok {
		return status.Errorf(codes.InvalidArgument, "malformed message: %v", err)
	}
	return nil
}

// unary must be the first unary interceptor: gRPC decodes the request
// before it calls the chain, and every decoded request must be taken.
func (c *codec) unary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	if err := c.take(req); err != nil {
		return nil, err
	}
	return h(ctx, req)
}

func (c *codec) stream(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	return h(srv, checkedStream{ss, c})
}

// checkedStream fails a receive whose message did not decode.
type checkedStream struct {
	grpc.ServerStream
	c *codec
}

func (s checkedStream) RecvMsg(m any) error {
	err := s.ServerStream.RecvMsg(m)
	if bad := s.c.take(m); bad != nil {
		return bad
	}
	return err
}

package server

import (
	"context"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
)

// codec is gRPC's protobuf codec, except that a message that does not
// decode gets InvalidArgument, as any other malformed input does. gRPC
// turns every codec error into Internal, whatever its type, so the codec
// cannot say it itself: it notes the failure against the message, decodes
// nothing, and the interceptors (which run next on the same call, and see
// the same message) return the error. Malformed input never reaches a
// handler.
type codec struct {
	encoding.CodecV2
	bad sync.Map // message (a pointer) → its decoding error
}

func newCodec() *codec {
	return &codec{CodecV2: encoding.GetCodecV2(proto.Name)}
}

func (c *codec) Unmarshal(data mem.BufferSlice, v any) error {
	if err := c.CodecV2.Unmarshal(data, v); err != nil {
		c.bad.Store(v, err)
	}
	return nil
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

package server

import (
	"context"

	"google.golang.org/grpc"
)

// MaxArrivingPerRole bounds, for each role, the calls whose first message
// is still arriving. gRPC reads a whole message, up to MaxRecvMsgSize,
// before anything sees it, so without a bound the calls a token may hold
// open under the connection caps (512 connections of a role, 16 calls
// each), each sending most of a message and then nothing, make the daemon
// buffer gigabytes: 128 MiB for two connections of 16 calls, measured. A
// legitimate first message (a CLI request, an agent's hello) is a few
// hundred bytes and arrives at once, so a call past the bound is refused
// at its headers (ResourceExhausted) and the client retries. With it, what
// first messages can hold is 16 times MaxRecvMsgSize per role (about
// 1.2 MiB with 4,096 listeners per agent); an agent session's later
// messages (its snapshots) are bounded by the sessions a peer may open
// (MaxStreamsPerPeer) instead.
const MaxArrivingPerRole = 16

// arriving counts, per role rank, the calls whose first message has not
// arrived. A call takes a place at its headers (auth.tap) and gives it
// back when its first message has been read, or when it ends, whichever
// comes first.
type arriving struct {
	*places
}

func newArriving() *arriving {
	return &arriving{newPlaces(map[role]int{roleAgent: MaxArrivingPerRole, roleRead: MaxArrivingPerRole, roleAdmin: MaxArrivingPerRole})}
}

// leaveKey is the context key of a call's leave func.
type leaveKey struct{}

// enter takes a place for a call of the given rank and returns ctx with
// the func that gives it back; false when the rank has none left.
func (a *arriving) enter(ctx context.Context, rank int) (context.Context, bool) {
	leave, ok := a.take(ctx, rank)
	if !ok {
		return ctx, false
	}
	return context.WithValue(ctx, leaveKey{}, leave), true
}

// leave gives back the place of the call of ctx, if it holds one.
func leave(ctx context.Context) {
	if f, ok := ctx.Value(leaveKey{}).(func()); ok {
		f()
	}
}

// unary gives the place back once the request has been read: gRPC calls
// the interceptors after it decodes the request.
func (a *arriving) unary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	leave(ctx)
	return h(ctx, req)
}

// stream gives the place back when the call's first message has been
// read: a stream's handler reads it through RecvMsg.
func (a *arriving) stream(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	return h(srv, leavingStream{ss})
}

type leavingStream struct{ grpc.ServerStream }

func (s leavingStream) RecvMsg(m any) error {
	err := s.ServerStream.RecvMsg(m)
	leave(s.Context())
	return err
}

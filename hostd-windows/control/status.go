package control

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/wslfwd/wslfwd/hostd-windows/engine"
)

// codeOf is the gRPC code of each kind of engine error.
var codeOf = []struct {
	kind error
	code codes.Code
}{
	{engine.ErrInvalid, codes.InvalidArgument},
	{engine.ErrNotFound, codes.NotFound},
	{engine.ErrExists, codes.AlreadyExists},
	{engine.ErrNotReady, codes.FailedPrecondition},
	{engine.ErrUnavailable, codes.Unavailable},
	{engine.ErrTimeout, codes.DeadlineExceeded},
	{engine.ErrLimit, codes.ResourceExhausted},
}

// statusOf turns an engine error into a status with the error's message:
// its kind's code, Canceled or DeadlineExceeded for a context's error, and
// Internal for any other (the engine's own failure).
func statusOf(err error) error {
	if err == nil {
		return nil
	}
	for _, c := range codeOf {
		if errors.Is(err, c.kind) {
			return status.Error(c.code, err.Error())
		}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return status.FromContextError(err).Err()
	}
	return status.Error(codes.Internal, err.Error())
}

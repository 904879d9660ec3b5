package engine

import (
	"errors"
	"fmt"
)

// The kinds of error the engine's calls return, for errors.Is. An error of
// a kind reads as its message alone; the ControlService handlers (package
// control) turn each kind into one gRPC code. A context's error comes back
// wrapped, and any other error is the engine's own failure.
var (
	// ErrInvalid: the request can never succeed as asked.
	ErrInvalid = errors.New("invalid request")
	// ErrNotFound: the request names something that does not exist.
	ErrNotFound = errors.New("not found")
	// ErrExists: the request would make something that exists already.
	ErrExists = errors.New("already exists")
	// ErrNotReady: the request needs a state that does not hold now,
	// such as a connected agent.
	ErrNotReady = errors.New("not ready")
	// ErrUnavailable: the request may succeed if tried again, after the
	// daemon restarts or an agent settles.
	ErrUnavailable = errors.New("unavailable")
	// ErrTimeout: something the request waits for did not happen in time.
	ErrTimeout = errors.New("timed out")
	// ErrLimit: a limit of the daemon's is reached.
	ErrLimit = errors.New("limit reached")
)

// kindError is an error of one of the kinds above.
type kindError struct {
	kind error
	msg  string
}

func (e *kindError) Error() string        { return e.msg }
func (e *kindError) Is(target error) bool { return target == e.kind }

// errorf formats an error of kind.
func errorf(kind error, format string, args ...any) error {
	return &kindError{kind: kind, msg: fmt.Sprintf(format, args...)}
}

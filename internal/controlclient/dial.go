package controlclient

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/internal/replysize"
	"github.com/wslfwd/wslfwd/internal/tokentls"
)

// Conn is a connection to the daemon's ControlService. It remembers where
// the address and token came from so failures can name them.
type Conn struct {
	wslfwdv1.ControlServiceClient
	Target    Target
	TokenFrom string
	cc        *grpc.ClientConn
}

// Dial prepares a connection to t carrying tok on every call, sent only
// once the daemon has proven in the TLS handshake that it holds tok
// (tokentls): a program that took the daemon's port gets nothing. It does
// not touch the network: the first call does, and its error goes through
// Explain.
func Dial(t Target, tok, tokenFrom string) (*Conn, error) {
	cc, err := grpc.NewClient("passthrough:///"+t.Addr,
		grpc.WithTransportCredentials(tokentls.ClientOf(tok)),
		grpc.WithPerRPCCredentials(tokentls.Bearer{}),
		// A long watch notices a vanished daemon (host asleep, WSL
		// restarted) instead of waiting forever.
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 20 * time.Second, Timeout: 10 * time.Second}),
		// The daemon keeps its answers within replysize.Max; the forwards
		// of a VM at its cap pass gRPC's default of 4 MiB.
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(replysize.Max)),
	)
	if err != nil {
		return nil, fmt.Errorf("daemon address %s (%s): %w", t.Addr, t.Why, err)
	}
	return &Conn{
		ControlServiceClient: wslfwdv1.NewControlServiceClient(cc),
		Target:               t,
		TokenFrom:            tokenFrom,
		cc:                   cc,
	}, nil
}

// Close closes the connection.
func (c *Conn) Close() error { return c.cc.Close() }

// RPCError is a failed call, explained. Code is the gRPC status code.
type RPCError struct {
	Code codes.Code
	msg  string
	// unproven, when set, says why the daemon did not prove it holds the
	// token (tokentls.Unproven).
	unproven string
}

func (e *RPCError) Error() string { return e.msg }

// Explain turns the error of the call named by what (e.g. "list forwards")
// into one that says what was tried and what to do. Errors that do not come
// from gRPC are returned wrapped with what.
func (c *Conn) Explain(what string, err error) error {
	if err == nil {
		return nil
	}
	s, ok := status.FromError(err)
	if !ok {
		return fmt.Errorf("%s: %w", what, err)
	}
	var msg string
	switch s.Code() {
	case codes.Unavailable:
		if why, ok := tokentls.Unproven(s.Message()); ok {
			msg = unprovenMessage(what, c.Target, c.TokenFrom, why)
			break
		}
		msg = fmt.Sprintf("daemon unreachable at %s (%s): %s; is wslfwd-hostd running? pass --host to dial another address",
			c.Target.Addr, c.Target.Why, transportCause(s.Message()))
	case codes.Unauthenticated:
		msg = fmt.Sprintf("daemon at %s rejected the token from %s: %s; copy the daemon's current token (`wslfwd-hostd token`, elevated, on Windows) or pass --token-file",
			c.Target.Addr, c.TokenFrom, s.Message())
	case codes.PermissionDenied:
		msg = fmt.Sprintf("%s: the token from %s is not allowed: %s; read commands need the read or admin token, expose, unexpose and probe the admin token "+
			"(on Windows run wslfwd from an elevated prompt, where it reads the admin token; elsewhere pass --token-file with it); the agent's token is refused",
			what, c.TokenFrom, s.Message())
	case codes.DeadlineExceeded:
		msg = fmt.Sprintf("%s: daemon at %s did not answer in time (%s); raise --timeout", what, c.Target.Addr, s.Message())
	case codes.Unimplemented:
		msg = fmt.Sprintf("%s: daemon at %s does not support this call (is it older than this CLI?): %s", what, c.Target.Addr, s.Message())
	case codes.Canceled:
		msg = fmt.Sprintf("%s: canceled", what)
	default:
		msg = fmt.Sprintf("%s: %s", what, s.Message())
	}
	return &RPCError{Code: s.Code(), msg: msg, unproven: unprovenWhy(s)}
}

// unprovenMessage says what it means that what answers at t did not prove
// it holds the token from tokenFrom, and what to do.
func unprovenMessage(what string, t Target, tokenFrom, why string) string {
	msg := fmt.Sprintf("%s: what answers at %s (%s) did not prove it holds the token from %s, so the token was not sent: %s. ",
		what, t.Addr, t.Why, tokenFrom, why)
	if strings.HasPrefix(why, tokentls.WhyPlaintext) {
		return msg + "A wslfwd-hostd older than this wslfwd speaks no TLS and cannot prove it: upgrade it (this release's `wslfwd setup`); " +
			"if it is current, another program answers on the daemon's address: find it (netstat -abno on Windows) and trust nothing it says"
	}
	return msg + "If the token is stale, copy the daemon's current one (`wslfwd-hostd token`, elevated, on Windows) or pass --token-file; " +
		"if it is current, another program answers on the daemon's address: find it (netstat -abno on Windows) and trust nothing it says"
}

// unprovenWhy is why the failed call of s found a daemon that did not
// prove it holds the token, or "".
func unprovenWhy(s *status.Status) string {
	if s.Code() != codes.Unavailable {
		return ""
	}
	why, _ := tokentls.Unproven(s.Message())
	return why
}

// Unproven returns why the daemon did not prove it holds the token, when
// err (from a call, or from Explain) says so; "" otherwise. The reason
// begins with one of tokentls's Why constants.
func Unproven(err error) string {
	var re *RPCError
	if errors.As(err, &re) {
		return re.unproven
	}
	if s, ok := status.FromError(err); ok {
		return unprovenWhy(s)
	}
	return ""
}

// Code is the gRPC status code of an error from Explain, or of a raw gRPC
// error; codes.Unknown otherwise.
func Code(err error) codes.Code {
	var re *RPCError
	if errors.As(err, &re) {
		return re.Code
	}
	return status.Code(err)
}

// transportWrappers are the layers gRPC wraps a failed dial in, outermost
// first: `connection error: desc = "transport: Error while dialing: dial
// tcp 127.0.0.1:1: connect: connection refused"`.
var transportWrappers = []string{`last connection error: `, `connection error: desc = "`, `transport: `,
	`Error while dialing: `}

// transportCause cuts gRPC's wrapping off a transport failure, leaving
// the cause ("connection refused"): the message around it already names
// the address.
func transportCause(msg string) string {
	for _, w := range transportWrappers {
		if rest, ok := strings.CutPrefix(msg, w); ok {
			msg = strings.TrimSuffix(rest, `"`)
		}
	}
	if rest, ok := strings.CutPrefix(msg, "dial "); ok {
		// "tcp 127.0.0.1:1: connect: connection refused"; Windows says
		// "connectex: No connection could be made …".
		if _, cause, ok := strings.Cut(rest, ": "); ok {
			cause = strings.TrimPrefix(cause, "connect: ")
			msg = strings.TrimPrefix(cause, "connectex: ")
		}
	}
	// Windows' messages end in a full stop; the sentence around goes on.
	return strings.TrimSuffix(msg, ".")
}

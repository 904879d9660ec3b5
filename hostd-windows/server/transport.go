package server

import (
	"context"
	"errors"
	"io"
	"net"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"

	"github.com/wslfwd/wslfwd/internal/tokentls"
)

// transport is the daemon's transport security. This release's agents and
// CLI speak TLS in which the daemon proves it holds their token before
// they send it (tokentls). The previous release's speak plain HTTP/2, and
// are still served, so that an upgrade keeps the agents it has not
// reached yet working: a plain connection's token proves its client as
// well as one in TLS does, and only the client risks anything by sending
// it in clear. The first byte tells them apart: a TLS client's is a
// handshake record's type, an HTTP/2 client's the "P" of its preface.
type transport struct {
	tls credentials.TransportCredentials // tokentls.Server
}

// recordTypeHandshake begins every TLS client's first record.
const recordTypeHandshake = 22

// newTransport makes the transport for tokens; a TLS client that asks for
// an identity none of them has is handed to unknown.
func newTransport(t Tokens, unknown func(net.Conn)) (transport, error) {
	creds, err := tokentls.Server(unknown, t.Admin, t.Read, t.Agent)
	return transport{tls: creds}, err
}

// ServerHandshake reads the first byte, within the deadline gRPC set on
// raw (ConnectionTimeout), and hands the connection, that byte put back,
// to TLS or to plain HTTP/2.
func (t transport) ServerHandshake(raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	var first [1]byte
	if _, err := io.ReadFull(raw, first[:]); err != nil {
		return nil, nil, err
	}
	conn := &replayConn{Conn: raw, first: first[0], pending: true}
	if first[0] == recordTypeHandshake {
		return t.tls.ServerHandshake(conn)
	}
	return conn, plaintext{credentials.CommonAuthInfo{SecurityLevel: credentials.NoSecurity}}, nil
}

func (transport) ClientHandshake(context.Context, string, net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return nil, nil, errors.New("server transport used to dial")
}

func (t transport) Info() credentials.ProtocolInfo { return t.tls.Info() }

func (t transport) Clone() credentials.TransportCredentials { return transport{tls: t.tls.Clone()} }

func (t transport) OverrideServerName(name string) error { return t.tls.OverrideServerName(name) }

// plaintext is the AuthInfo of a connection of the previous release.
type plaintext struct{ credentials.CommonAuthInfo }

func (plaintext) AuthType() string { return "plaintext" }

// replayConn gives back the byte the transport read before the rest.
type replayConn struct {
	net.Conn
	first   byte
	pending bool
}

func (c *replayConn) Read(b []byte) (int, error) {
	if c.pending && len(b) > 0 {
		c.pending = false
		b[0] = c.first
		return 1, nil
	}
	return c.Conn.Read(b)
}

// unknownIdentity refuses, as a call with a wrong token is refused, a TLS
// client that asked the daemon to prove a token it does not hold: counted,
// logged at a bounded rate, and its connection the first to give way.
func (a *auth) unknownIdentity(c net.Conn) {
	a.metrics.CallRefused(codes.Unauthenticated.String())
	if rc, ok := c.(*replayConn); ok {
		if tc, ok := rc.Conn.(*trackedConn); ok {
			tc.refused.Store(true)
		}
	}
	a.rejectFrom(c.RemoteAddr(), "TLS handshake", "asked for the identity of a token the daemon does not hold")
}

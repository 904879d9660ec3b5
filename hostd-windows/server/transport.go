package server

import (
	"context"
	"errors"
	"fmt"
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

// maxClientHello bounds a TLS client's first flight, which the daemon
// reads before any token is proven. This release's clients send about
// 300 bytes in one record; crypto/tls would take up to 64 KiB over many
// records, and keep its buffers that size for the connection's life.
const maxClientHello = 4 << 10

// newTransport makes the transport for tokens; a TLS client that asks for
// an identity none of them has is handed to unknown.
func newTransport(t Tokens, unknown func(net.Conn)) (transport, error) {
	creds, err := tokentls.Server(unknown, t.Admin, t.Read, t.Agent)
	return transport{tls: creds}, err
}

// ServerHandshake reads the first byte, within the deadline gRPC set on
// raw (ConnectionTimeout), and hands the connection, what it read put
// back, to TLS or to plain HTTP/2.
func (t transport) ServerHandshake(raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	first := make([]byte, 1, tlsHeaders)
	if _, err := io.ReadFull(raw, first); err != nil {
		return nil, nil, err
	}
	if first[0] != recordTypeHandshake {
		return &replayConn{Conn: raw, pending: first}, plaintext{credentials.CommonAuthInfo{SecurityLevel: credentials.NoSecurity}}, nil
	}
	head, err := clientHelloHeaders(raw, first)
	if err != nil {
		return nil, nil, err
	}
	return t.tls.ServerHandshake(&replayConn{Conn: raw, pending: head})
}

// tlsHeaders is the length of a TLS record's header and of the handshake
// message's header that begins it.
const tlsHeaders = 5 + 4

// clientHelloHeaders reads the rest of the headers of a TLS client's
// first record after its first byte, and refuses a first flight that is
// not one ClientHello of at most maxClientHello bytes in that record.
func clientHelloHeaders(raw net.Conn, first []byte) ([]byte, error) {
	head := first[:tlsHeaders]
	if _, err := io.ReadFull(raw, head[1:]); err != nil {
		return nil, err
	}
	record := int(head[3])<<8 | int(head[4])
	hello := int(head[6])<<16 | int(head[7])<<8 | int(head[8])
	switch {
	case head[5] != 1: // client_hello
		return nil, fmt.Errorf("TLS: the first handshake message is of type %d, not a ClientHello", head[5])
	case record > maxClientHello || hello+4 > record:
		return nil, fmt.Errorf("TLS: a ClientHello of %d bytes in a record of %d; at most %d, in one record", hello+4, record, maxClientHello)
	}
	return head, nil
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

// replayConn gives back what the transport read before the rest.
type replayConn struct {
	net.Conn
	pending []byte
}

func (c *replayConn) Read(b []byte) (int, error) {
	if len(c.pending) > 0 {
		n := copy(b, c.pending)
		c.pending = c.pending[n:]
		return n, nil
	}
	return c.Conn.Read(b)
}

// unknownIdentity counts and logs, at a bounded rate, as a call with a
// wrong token is, a TLS client that asked the daemon to prove a token it
// does not hold.
func (a *auth) unknownIdentity(c net.Conn) {
	a.metrics.CallRefused(codes.Unauthenticated.String())
	a.rejectFrom(c.RemoteAddr(), "TLS handshake", "asked for the identity of a token the daemon does not hold")
}

package tokentls

import (
	"context"
	"crypto/tls"
	"errors"
	"net"

	"google.golang.org/grpc/credentials"
)

// Server returns the transport credentials of a daemon that holds tokens
// (empty ones are skipped): a client that asks for one of their identities
// gets that identity's certificate, any other the alert unrecognized_name
// after unknown has been called with its connection (the daemon counts
// those as refused tokens).
func Server(unknown func(net.Conn), tokens ...string) (credentials.TransportCredentials, error) {
	certs := make(map[string]*tls.Certificate, len(tokens))
	for _, tok := range tokens {
		if tok == "" {
			continue
		}
		id, err := identityOf(tok)
		if err != nil {
			return nil, err
		}
		if certs[id.name], err = id.certificate(); err != nil {
			return nil, err
		}
	}
	if len(certs) == 0 {
		return nil, errors.New("tokentls: no token to prove")
	}
	cfg := baseConfig()
	// Returning no certificate and no error makes crypto/tls send
	// unrecognized_name, which tells a client with a stale token what is
	// wrong better than a generic failure would.
	cfg.GetCertificate = func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
		cert := certs[hello.ServerName]
		if cert == nil && unknown != nil {
			unknown(hello.Conn)
		}
		return cert, nil
	}
	return serverCreds{cfg: cfg}, nil
}

// serverCreds are Server's credentials.
type serverCreds struct{ cfg *tls.Config }

// ServerHandshake runs the daemon's side of the handshake on raw; gRPC
// has set raw's deadline.
func (c serverCreds) ServerHandshake(raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	conn := tls.Server(raw, c.cfg)
	if err := conn.HandshakeContext(context.Background()); err != nil {
		conn.Close()
		return nil, nil, err
	}
	return conn, Info{CommonAuthInfo: credentials.CommonAuthInfo{SecurityLevel: credentials.PrivacyAndIntegrity}}, nil
}

func (serverCreds) ClientHandshake(context.Context, string, net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return nil, nil, errors.New("tokentls: server credentials used to dial")
}

func (serverCreds) Info() credentials.ProtocolInfo { return protocolInfo }

func (c serverCreds) Clone() credentials.TransportCredentials { return serverCreds{cfg: c.cfg.Clone()} }

// OverrideServerName implements credentials.TransportCredentials.
func (serverCreds) OverrideServerName(string) error { return errOverride }

// errOverride refuses gRPC's deprecated OverrideServerName: the server
// name is the identity.
var errOverride = errors.New("tokentls: the server name is the identity and cannot be overridden")

// protocolInfo is what both ends' credentials report.
var protocolInfo = credentials.ProtocolInfo{SecurityProtocol: "tls", SecurityVersion: "1.3"}

// Info is a connection's AuthInfo. On a client's connection it holds the
// token its peer proved to hold, which Bearer sends on each call.
type Info struct {
	credentials.CommonAuthInfo
	token string
}

// AuthType implements credentials.AuthInfo.
func (Info) AuthType() string { return "tokentls" }

// String leaves the token out, so that printing a peer never shows it.
func (i Info) String() string { return "tokentls " + i.SecurityLevel.String() }

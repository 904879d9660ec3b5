package tokentls

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/wslfwd/wslfwd/internal/token"
)

// ErrUnproven is the error of every handshake in which the peer did not
// prove that it holds the client's token. Its text is kept in the gRPC
// errors it ends up in, where Unproven finds it.
var ErrUnproven = errors.New("did not prove it holds the token")

// Client returns transport credentials that complete a connection only
// with a peer that proves it holds the token load returns. load is called
// at every handshake, so a token file replaced between connections is
// read afresh.
func Client(load func() (string, error)) credentials.TransportCredentials {
	return clientCreds{load: load}
}

// ClientOf is Client for a token that does not change.
func ClientOf(tok string) credentials.TransportCredentials {
	return Client(func() (string, error) { return tok, nil })
}

// clientCreds are Client's credentials.
type clientCreds struct{ load func() (string, error) }

// ClientHandshake runs the client's side of the handshake on raw.
func (c clientCreds) ClientHandshake(ctx context.Context, _ string, raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	tok, err := c.load()
	if err != nil {
		return nil, nil, err
	}
	id, err := identityOf(tok)
	if err != nil {
		return nil, nil, err
	}
	want := id.public()
	cfg := baseConfig()
	cfg.ServerName = id.name
	// No chain to verify: the certificate is self-signed and its key is
	// the identity, checked here. crypto/tls then checks the peer's
	// signature of the handshake with that key, which proves the peer
	// holds it, before the handshake completes and anything is sent.
	cfg.InsecureSkipVerify = true
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return ErrUnproven
		}
		if k, ok := cs.PeerCertificates[0].PublicKey.(ed25519.PublicKey); !ok || !k.Equal(want) {
			return fmt.Errorf("%w: %s: its certificate's key is another", ErrUnproven, WhyOtherKey)
		}
		return nil
	}
	conn := tls.Client(raw, cfg)
	if err := conn.HandshakeContext(ctx); err != nil {
		conn.Close()
		return nil, nil, explain(err)
	}
	return conn, Info{CommonAuthInfo: credentials.CommonAuthInfo{SecurityLevel: credentials.PrivacyAndIntegrity}, token: tok}, nil
}

// alertUnrecognizedName is the TLS alert a daemon sends a client whose
// token it does not hold (RFC 8446, section 6).
const alertUnrecognizedName = 112

// Why a peer did not prove it holds the token, as errors say it after
// ErrUnproven and Unproven returns it.
const (
	// WhyPlaintext: the peer speaks no TLS, as daemons before tokentls
	// did: the fix is most likely to upgrade the daemon.
	WhyPlaintext = "it answered without TLS"
	// WhyUnknown: the peer speaks TLS but does not know the token: a
	// stale token, or another program.
	WhyUnknown = "it does not know the token"
	// WhyOtherKey: the peer showed a certificate of another key, or the
	// token's certificate without its key: not the daemon.
	WhyOtherKey = "it did not show the token's key"
)

// explain says what a failed handshake means for the token. A peer that
// answered, but not with the token's key, did not prove it holds the
// token (ErrUnproven); one that went away or timed out is a connection
// that failed, as any other.
func explain(err error) error {
	var rec tls.RecordHeaderError
	var op *net.OpError
	switch {
	case errors.Is(err, ErrUnproven):
		return err
	case errors.As(err, &rec):
		return fmt.Errorf("%w: %s (a wslfwd-hostd older than this program, or another program): %v", ErrUnproven, WhyPlaintext, err)
	case errors.As(err, &op) && op.Op == "remote error" && op.Err.Error() == tls.AlertError(alertUnrecognizedName).Error():
		return fmt.Errorf("%w: %s (a token not the daemon's current one, or another program)", ErrUnproven, WhyUnknown)
	case strings.Contains(err.Error(), "invalid signature by the server certificate"):
		// crypto/tls checked the handshake's signature against the
		// certificate's key, which is the token's: the peer lacks it.
		return fmt.Errorf("%w: %s: %v", ErrUnproven, WhyOtherKey, err)
	}
	return fmt.Errorf("TLS handshake: %w", err)
}

// handshakeFailed begins the text gRPC gives a failed handshake, in an
// Unavailable status.
const handshakeFailed = "authentication handshake failed: "

// Unproven reports whether msg, the message of an Unavailable status,
// says that the daemon did not prove it holds the token, and returns why
// (beginning with one of the Why constants): gRPC hands a failed
// handshake on as text.
func Unproven(msg string) (why string, ok bool) {
	_, after, ok := strings.Cut(msg, handshakeFailed+ErrUnproven.Error()+": ")
	if !ok {
		return "", false
	}
	return strings.TrimSuffix(after, `"`), true
}

func (clientCreds) ServerHandshake(net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return nil, nil, errors.New("tokentls: client credentials used to serve")
}

func (clientCreds) Info() credentials.ProtocolInfo { return protocolInfo }

func (c clientCreds) Clone() credentials.TransportCredentials { return c }

// OverrideServerName implements credentials.TransportCredentials.
func (clientCreds) OverrideServerName(string) error { return errOverride }

// Bearer attaches to every call the token the call's connection proved
// its peer holds, so that a token goes only where it was proven.
type Bearer struct{}

// GetRequestMetadata implements credentials.PerRPCCredentials.
func (Bearer) GetRequestMetadata(ctx context.Context, _ ...string) (map[string]string, error) {
	ri, _ := credentials.RequestInfoFromContext(ctx)
	info, ok := ri.AuthInfo.(Info)
	if !ok || info.token == "" {
		// Internal, not gRPC's default Unauthenticated for a failing
		// credential: the daemon rejected nothing.
		return nil, status.Error(codes.Internal, "tokentls: the connection proved no token; not sending one")
	}
	return map[string]string{token.MetadataKey: token.Header(info.token)}, nil
}

// RequireTransportSecurity implements credentials.PerRPCCredentials.
func (Bearer) RequireTransportSecurity() bool { return true }

package tokentls

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
)

const (
	admin = "admin-token-0123456789abcdef0123456789abcdef"
	read  = "read-token-0123456789abcdef0123456789abcdef"
	other = "other-token-0123456789abcdef0123456789abcdef"
)

// handshake runs a client holding tok against serve on a loopback
// connection, and
// returns the client's result and what the server side read after its
// handshake: a client must send nothing to a peer that did not prove
// itself.
func handshake(t *testing.T, tok string, serve func(net.Conn) (net.Conn, error)) (credentials.AuthInfo, error, []byte) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	cside, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	sside, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cside.Close(); sside.Close() })
	deadline := time.Now().Add(10 * time.Second)
	cside.SetDeadline(deadline)
	sside.SetDeadline(deadline)
	read := make(chan []byte, 1)
	go func() {
		conn, err := serve(sside)
		if err != nil {
			read <- nil
			return
		}
		b, _ := io.ReadAll(conn)
		read <- b
	}()
	conn, info, err := Client(func() (string, error) { return tok, nil }).ClientHandshake(context.Background(), "ignored", cside)
	if err == nil {
		conn.Write([]byte("sent after the handshake"))
		conn.Close()
	}
	cside.Close()
	return info, err, <-read
}

// daemon serves as the daemon holding tokens does, counting the clients
// whose identity it does not know.
func daemon(t *testing.T, unknown *int, tokens ...string) func(net.Conn) (net.Conn, error) {
	t.Helper()
	creds, err := Server(func(net.Conn) { *unknown++ }, tokens...)
	if err != nil {
		t.Fatal(err)
	}
	return func(c net.Conn) (net.Conn, error) {
		conn, _, err := creds.ServerHandshake(c)
		return conn, err
	}
}

func TestClientOfAKnownToken(t *testing.T) {
	unknown := 0
	info, err, got := handshake(t, read, daemon(t, &unknown, admin, read))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "sent after the handshake" || unknown != 0 {
		t.Errorf("the daemon read %q, counted %d unknown; want the client's bytes and none", got, unknown)
	}
	ctx := credentials.NewContextWithRequestInfo(context.Background(), credentials.RequestInfo{AuthInfo: info})
	md, err := Bearer{}.GetRequestMetadata(ctx)
	if err != nil || md["authorization"] != "Bearer "+read {
		t.Errorf("Bearer on the proven connection: %v, %v; want the read token", md, err)
	}
}

func TestDaemonWithoutTheToken(t *testing.T) {
	unknown := 0
	_, err, got := handshake(t, other, daemon(t, &unknown, admin, read))
	if err == nil || !unproven(err) || !strings.Contains(err.Error(), WhyUnknown) {
		t.Fatalf("handshake: %v; want ErrUnproven saying the daemon does not know the token", err)
	}
	if got != nil || unknown != 1 {
		t.Errorf("the daemon completed with %q, counted %d unknown; want no handshake and one", got, unknown)
	}
}

// impostor answers every client, whatever the name asked for, with show
// (nil: a certificate of key) and signs the handshake with key, then
// reads what follows.
func impostor(t *testing.T, key ed25519.PrivateKey, show *tls.Certificate) func(net.Conn) (net.Conn, error) {
	t.Helper()
	cert, err := identity{name: "anything" + nameSuffix, key: key}.certificate()
	if err != nil {
		t.Fatal(err)
	}
	if show != nil {
		cert = &tls.Certificate{Certificate: show.Certificate, PrivateKey: key}
	}
	cfg := baseConfig()
	cfg.Certificates = []tls.Certificate{*cert}
	return func(c net.Conn) (net.Conn, error) {
		conn := tls.Server(c, cfg)
		return conn, conn.Handshake()
	}
}

func TestImpostorsGetNothing(t *testing.T) {
	_, random, _ := ed25519.GenerateKey(rand.Reader)
	readID, _ := identityOf(read)
	adminID, _ := identityOf(admin)
	genuine, err := adminID.certificate()
	if err != nil {
		t.Fatal(err)
	}
	for name, serve := range map[string]func(net.Conn) (net.Conn, error){
		"a key of its own": impostor(t, random, nil),
		// Every local user may read the read token: it must prove nothing
		// to a client of the admin token.
		"the read token's key": impostor(t, readID.key, nil),
		// The daemon shows the admin token's certificate to whoever asks
		// by its name, which crosses the network in clear: the
		// certificate without its key proves nothing.
		"the token's certificate with another key": impostor(t, random, genuine),
	} {
		t.Run(name, func(t *testing.T) {
			_, err, got := handshake(t, admin, serve)
			if err == nil || !unproven(err) || !strings.Contains(err.Error(), WhyOtherKey) {
				t.Fatalf("handshake: %v; want ErrUnproven: %s", err, WhyOtherKey)
			}
			if len(got) != 0 {
				t.Errorf("the impostor read %q", got)
			}
		})
	}
}

// A peer speaking plain HTTP/2, as a daemon of the previous release does,
// sends its SETTINGS frame first.
func TestPlaintextPeer(t *testing.T) {
	_, err, got := handshake(t, admin, func(c net.Conn) (net.Conn, error) {
		if _, err := c.Write([]byte{0, 0, 0, 4, 0, 0, 0, 0, 0}); err != nil {
			return nil, err
		}
		return c, nil
	})
	if err == nil || !unproven(err) || !strings.Contains(err.Error(), WhyPlaintext) {
		t.Fatalf("handshake: %v; want ErrUnproven: %s", err, WhyPlaintext)
	}
	if strings.Contains(string(got), "sent after the handshake") {
		t.Errorf("the peer read what the client sends once the handshake is done: %q", got)
	}
}

func TestInfoHidesTheToken(t *testing.T) {
	for _, f := range []string{"%v", "%+v", "%s"} {
		if got := fmt.Sprintf(f, Info{token: admin}); strings.Contains(got, admin) {
			t.Errorf("Sprintf(%q) shows the token: %s", f, got)
		}
	}
}

func TestBearerNeedsAProvenConnection(t *testing.T) {
	for name, ai := range map[string]credentials.AuthInfo{"no auth info": nil, "the daemon's side": Info{}} {
		ctx := credentials.NewContextWithRequestInfo(context.Background(), credentials.RequestInfo{AuthInfo: ai})
		if md, err := (Bearer{}).GetRequestMetadata(ctx); status.Code(err) != codes.Internal {
			t.Errorf("%s: Bearer: %v, %v; want nothing and Internal", name, md, err)
		}
	}
}

func TestIdentities(t *testing.T) {
	a1, _ := identityOf(admin)
	a2, _ := identityOf(admin)
	r, _ := identityOf(read)
	if a1.name != a2.name || !a1.key.Equal(a2.key) {
		t.Error("one token gave two identities")
	}
	if a1.name == r.name || a1.key.Equal(r.key) {
		t.Error("two tokens gave one identity")
	}
	if strings.Contains(a1.name, admin[:8]) || !strings.HasSuffix(a1.name, nameSuffix) {
		t.Errorf("name %q", a1.name)
	}
	if _, err := Server(nil, "", ""); err == nil {
		t.Error("Server with no token: no error")
	}
}

func unproven(err error) bool {
	_, ok := Unproven(`connection error: desc = "transport: authentication handshake failed: ` + err.Error() + `"`)
	return ok
}

func TestUnprovenReason(t *testing.T) {
	why, ok := Unproven(`connection error: desc = "transport: authentication handshake failed: did not prove it holds the token: it does not know the token"`)
	if !ok || why != "it does not know the token" {
		t.Errorf("Unproven: %q, %v", why, ok)
	}
	if _, ok := Unproven("connection refused"); ok {
		t.Error("a refused connection read as unproven")
	}
}

// A peer that closes the connection during the handshake has failed as a
// connection fails, not shown a key: no advice about stale tokens.
func TestPeerGoneIsNotUnproven(t *testing.T) {
	_, err, _ := handshake(t, admin, func(c net.Conn) (net.Conn, error) {
		c.Close()
		return nil, io.EOF
	})
	if err == nil || unproven(err) || !strings.Contains(err.Error(), "TLS handshake") {
		t.Fatalf("handshake: %v; want a TLS handshake error that is not ErrUnproven", err)
	}
}

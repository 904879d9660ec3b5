package server

import (
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// handshakeOn runs the transport's side of a handshake on a loopback
// connection whose client sends first and then closes its side.
func handshakeOn(t *testing.T, tr transport, first []byte) (net.Conn, error) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	s, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	s.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(first); err != nil {
		t.Fatal(err)
	}
	c.(*net.TCPConn).CloseWrite()
	conn, _, err := tr.ServerHandshake(s)
	return conn, err
}

// The daemon reads at most a small first flight before any token is
// proven: a ClientHello over maxClientHello, or not whole in the first
// record, or a first message that is no ClientHello, is refused before
// crypto/tls buffers it.
func TestClientHelloBounds(t *testing.T) {
	tr, err := newTransport(Tokens{Admin: strings.Repeat("a", 64)}, func(net.Conn) {})
	if err != nil {
		t.Fatal(err)
	}
	record := func(length int, msgType byte, hello int) []byte {
		return []byte{22, 3, 1, byte(length >> 8), byte(length), msgType, byte(hello >> 16), byte(hello >> 8), byte(hello)}
	}
	for name, first := range map[string][]byte{
		"a record over the bound":              record(maxClientHello+1, 1, maxClientHello-3),
		"a ClientHello longer than its record": record(300, 1, 60000),
		"not a ClientHello":                    record(300, 2, 296),
	} {
		if _, err := handshakeOn(t, tr, first); err == nil || !strings.Contains(err.Error(), "TLS: ") {
			t.Errorf("%s: %v, want refused", name, err)
		}
	}
	// A plain HTTP/2 client's bytes go on to gRPC whole.
	conn, err := handshakeOn(t, tr, []byte("PRI * HTTP/2.0"))
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := io.ReadAll(conn); string(got) != "PRI * HTTP/2.0" {
		t.Errorf("a plain client's bytes came through as %q", got)
	}
}

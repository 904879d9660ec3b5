//go:build linux

package session

import (
	"context"
	"net"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/wslfwd/wslfwd/agent-linux/rawio"
)

// The daemon connection is raw (rawio) and still has the TCP_USER_TIMEOUT
// gRPC would have set on a plain *net.TCPConn, and its local address is
// recorded.
func TestDialIsQuietWithUserTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var local localAddr
	c, err := local.dial(context.Background(), ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rc, ok := c.(*rawio.Conn)
	if !ok {
		t.Fatalf("dial returned a %T, want a *rawio.Conn", c)
	}
	raw, err := rc.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var got int
	var gerr error
	raw.Control(func(fd uintptr) { got, gerr = unix.GetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT) })
	if gerr != nil || got != int(keepaliveTimeout.Milliseconds()) {
		t.Errorf("TCP_USER_TIMEOUT = %d, %v; want %d", got, gerr, keepaliveTimeout.Milliseconds())
	}
	if a := local.get(); a.String() != "127.0.0.1" {
		t.Errorf("recorded local address %v, want 127.0.0.1", a)
	}
}

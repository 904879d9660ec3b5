//go:build linux

package bench

import (
	"net"
	"testing"

	"golang.org/x/sys/unix"
)

// The helper's listeners stand in for a user's service, so they must be
// plain TCP sockets, not Go's default Multipath TCP.
func TestHelperListensWithPlainTCP(t *testing.T) {
	ln, err := listenTCP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	raw, err := ln.(*net.TCPListener).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var proto int
	var serr error
	if err := raw.Control(func(fd uintptr) {
		proto, serr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_PROTOCOL)
	}); err != nil {
		t.Fatal(err)
	}
	if serr != nil {
		t.Fatal(serr)
	}
	if proto != unix.IPPROTO_TCP {
		t.Errorf("the helper's listener has protocol %d, want IPPROTO_TCP (%d)", proto, unix.IPPROTO_TCP)
	}
}

//go:build linux

// Package socktest makes sockets for the agent's tests: both ends of a
// loopback TCP connection, and the inode a socket has in /proc.
package socktest

import (
	"net"
	"syscall"
	"testing"
)

// Pair returns both ends of a TCP connection on the loopback address host
// ("127.0.0.1" or "::1"): the dialled end and the accepted one. Both are
// closed when the test ends.
func Pair(t testing.TB, host string) (dialled, accepted *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	a, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return c.(*net.TCPConn), a.(*net.TCPConn)
}

// Inode returns the inode of c's socket.
func Inode(t testing.TB, c syscall.Conn) uint64 {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var st syscall.Stat_t
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = syscall.Fstat(int(fd), &st) }); err != nil {
		t.Fatal(err)
	}
	if serr != nil {
		t.Fatal(serr)
	}
	return st.Ino
}

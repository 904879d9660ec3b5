//go:build linux

package session

import (
	"fmt"
	"net"

	"golang.org/x/sys/unix"

	"github.com/wslfwd/wslfwd/agent-linux/rawio"
)

// quiet returns the daemon connection c with raw reads and writes
// (rawio): every change the agent reports is a write, and Go's own write
// costs more scheduler work than the write itself. gRPC sets
// TCP_USER_TIMEOUT only on a *net.TCPConn, which the wrapper is not, so it
// is set here to what gRPC would set.
func quiet(c net.Conn) (net.Conn, error) {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return c, nil
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("raw connection: %w", err)
	}
	var serr error
	err = rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, int(keepaliveTimeout.Milliseconds()))
	})
	if err == nil {
		err = serr
	}
	if err != nil {
		return nil, fmt.Errorf("set TCP_USER_TIMEOUT: %w", err)
	}
	return rawio.Wrap(tc)
}

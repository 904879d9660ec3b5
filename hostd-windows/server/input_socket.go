//go:build linux || windows

package server

import (
	"net"
	"syscall"
)

// withSocket runs f with c's socket, if c has one.
func withSocket(c net.Conn, f func(fd uintptr)) {
	if sc, ok := c.(syscall.Conn); ok {
		if rc, err := sc.SyscallConn(); err == nil {
			rc.Control(f)
		}
	}
}

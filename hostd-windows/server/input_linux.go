package server

import (
	"net"

	"golang.org/x/sys/unix"
)

// hasInput reports whether c has received bytes not read yet: a peer that
// has spoken even though the daemon has not got round to reading it.
func hasInput(c net.Conn) bool {
	n := 0
	withSocket(c, func(fd uintptr) { n, _ = unix.IoctlGetInt(int(fd), unix.SIOCINQ) })
	return n > 0
}

package server

import (
	"net"
	"unsafe"

	"golang.org/x/sys/windows"
)

// fionread is Winsock's FIONREAD: _IOR('f', 127, u_long).
const fionread = 0x4004667f

// hasInput reports whether c has received bytes not read yet: a peer that
// has spoken even though the daemon has not got round to reading it.
func hasInput(c net.Conn) bool {
	var n, size uint32
	withSocket(c, func(fd uintptr) {
		if windows.WSAIoctl(windows.Handle(fd), fionread, nil, 0, (*byte)(unsafe.Pointer(&n)), 4, &size, nil, 0) != nil {
			n = 0
		}
	})
	return n > 0
}

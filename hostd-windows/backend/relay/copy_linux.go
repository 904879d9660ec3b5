package relay

import "net"

// copyConn copies src to dst. TCPConn.ReadFrom with a *net.TCPConn source
// moves the bytes with splice(2) inside the kernel, through a pipe and no
// user-space buffer. It is called directly rather than through io.Copy,
// which would first try src.WriteTo and reach ReadFrom only by way of its
// fallback; and neither end may be wrapped, or the copy falls back to a
// read/write loop through a 32 KiB heap buffer.
func copyConn(dst, src *net.TCPConn) (int64, error) {
	return dst.ReadFrom(src)
}

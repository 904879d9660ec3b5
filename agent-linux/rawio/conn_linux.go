//go:build linux

package rawio

import (
	"io"
	"net"
)

// Conn is a TCP connection whose Read and Write are a Socket's; everything
// else is the *net.TCPConn's.
type Conn struct {
	*net.TCPConn
	s *Socket
}

// Wrap returns c with raw reads and writes.
func Wrap(c *net.TCPConn) (*Conn, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	return &Conn{TCPConn: c, s: New(rc)}, nil
}

// Read implements net.Conn; the end of the stream is io.EOF.
func (c *Conn) Read(b []byte) (int, error) {
	n, err := c.s.Read(b)
	switch {
	case err != nil:
		return n, c.opError("read", err)
	case n == 0 && len(b) > 0:
		return 0, io.EOF
	}
	return n, nil
}

// Write implements net.Conn.
func (c *Conn) Write(b []byte) (int, error) {
	n, err := c.s.Write(b)
	if err != nil {
		return n, c.opError("write", err)
	}
	return n, nil
}

// opError wraps err as net.TCPConn's own methods would.
func (c *Conn) opError(op string, err error) error {
	return &net.OpError{Op: op, Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
}

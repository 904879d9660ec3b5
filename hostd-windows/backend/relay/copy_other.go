//go:build !linux

package relay

import (
	"io"
	"net"
	"sync"
)

// bufs holds copy buffers for reuse: without splice, each direction of
// each connection needs one, and short connections would churn the heap.
// A copy holds its buffer while it waits for data, so an idle connection
// holds two: 16 KiB each bounds what a flood of idle connections holds
// (DefaultMaxClients) at 32 MiB, where 64 KiB gave 128 MiB; a read then
// moves at most 16 KiB per system call.
var bufs = sync.Pool{New: func() any { b := make([]byte, 16<<10); return &b }}

// copyConn copies src to dst through a pooled buffer. The wrappers hide
// ReadFrom and WriteTo, which would otherwise make io.CopyBuffer ignore
// the buffer and allocate its own.
func copyConn(dst, src *net.TCPConn) (int64, error) {
	b := bufs.Get().(*[]byte)
	defer bufs.Put(b)
	return io.CopyBuffer(struct{ io.Writer }{dst}, struct{ io.Reader }{src}, *b)
}

//go:build linux

// Package rawio reads and writes the agent's non-blocking sockets (and
// its timerfd) with raw system calls, which the Go scheduler does not
// watch.
//
// Go's own socket reads and writes tell the scheduler they may block. When
// the agent was idle, that wakes the runtime's monitor thread (sysmon),
// which then checks every 20 µs for a while and, when the call takes longer
// than that (a TCP write through a veth delivers the segment too), hands
// the agent's one P to another thread; the call's return then waits for a
// thread switch. For a non-blocking socket none of that buys anything: the
// call never blocks, and a call that would block returns EAGAIN, after which
// the wait is the netpoller's, as usual (syscall.RawConn). In the lab this
// bookkeeping was about a third of the agent's CPU under listener churn,
// more than the writes themselves.
package rawio

import (
	"fmt"
	"os"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Socket reads and writes one non-blocking socket. It is safe for
// concurrent use (reads queue behind reads, writes behind writes, as on a
// net.Conn), and a call allocates nothing.
type Socket struct {
	rc   syscall.RawConn
	r, w op
}

// op is one direction's call in progress; fn is its method value, made
// once so that a call allocates no closure.
type op struct {
	mu    sync.Mutex // one call at a time: the fields are its state
	b     []byte
	n     int
	errno syscall.Errno
	fn    func(fd uintptr) bool
}

// New returns a Socket for the non-blocking socket behind rc (from
// SyscallConn of a net.Conn, or of an os.File made from a non-blocking fd).
func New(rc syscall.RawConn) *Socket {
	s := &Socket{rc: rc}
	s.r.fn, s.w.fn = s.r.read, s.w.write
	return s
}

// NewFile makes the non-blocking fd (a netlink socket, a timerfd) an
// os.File in the netpoller, named name, and returns it with a Socket for
// its reads and writes. On error fd is closed.
func NewFile(fd int, name string) (*os.File, *Socket, error) {
	f := os.NewFile(uintptr(fd), name)
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	return f, New(rc), nil
}

// Read reads once into b, waiting in the netpoller while nothing is
// ready. It returns 0 and no error at the end of a stream.
func (s *Socket) Read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	return s.r.run(b, s.rc.Read, "read")
}

// Write writes all of b, waiting in the netpoller while the socket has no
// room, and returns how much it wrote.
func (s *Socket) Write(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	return s.w.run(b, s.rc.Write, "write")
}

// run calls fn through do (the RawConn's Read or Write) for b.
func (o *op) run(b []byte, do func(func(uintptr) bool) error, name string) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.b, o.n, o.errno = b, 0, 0
	err := do(o.fn)
	n, errno := o.n, o.errno
	o.b = nil
	switch {
	case err != nil:
		return n, err
	case errno != 0:
		return n, os.NewSyscallError(name, errno)
	}
	return n, nil
}

// read is one read(2), retried on EINTR; false (wait) on EAGAIN.
func (o *op) read(fd uintptr) bool {
	for {
		r, _, e := unix.RawSyscall(unix.SYS_READ, fd, uintptr(unsafe.Pointer(&o.b[0])), uintptr(len(o.b)))
		switch e {
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		case 0:
			o.n = int(r)
		default:
			o.errno = e
		}
		return true
	}
}

// write writes until all of o.b is written, an error, or EAGAIN (false:
// wait, then carry on from o.n).
func (o *op) write(fd uintptr) bool {
	for o.n < len(o.b) {
		r, _, e := unix.RawSyscall(unix.SYS_WRITE, fd, uintptr(unsafe.Pointer(&o.b[o.n])), uintptr(len(o.b)-o.n))
		switch e {
		case unix.EINTR:
		case unix.EAGAIN:
			return false
		case 0:
			o.n += int(r)
		default:
			o.errno = e
			return true
		}
	}
	return true
}

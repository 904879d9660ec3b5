package trigger

import (
	"context"
	"net/netip"
)

// Kind says what an Event reports.
type Kind uint8

// Event kinds.
const (
	// Opened: a TCP socket entered LISTEN or a UDP socket was bound.
	Opened Kind = iota + 1
	// Closed: a TCP socket left LISTEN or an unconnected UDP socket was
	// closed.
	Closed
	// Lost: events were lost (the kernel's buffer overflowed), so any
	// listener may have changed.
	Lost
)

// Event is one socket change seen by an EventSource. How much it says
// depends on what the kernel could tell. A Whole event identifies its
// socket, so the agent can update that one listener without asking the
// kernel again; otherwise it narrows the re-read to Protocol, and to
// Family and Port where known.
type Event struct {
	Kind     Kind
	Protocol uint8      // IPPROTO_TCP or IPPROTO_UDP
	Family   uint8      // AF_INET or AF_INET6; 0 if unknown
	Port     uint16     // 0 if unknown
	Addr     netip.Addr // the local address, if known
	Inode    uint64     // the socket's inode, if known
	UID      uint32     // with Inode: the socket's owner
	V6Only   bool       // with Inode: IPV6_V6ONLY
	// PID is the process that made the change, as the agent's pid
	// namespace numbers it, or 0 if it is outside that namespace or
	// unknown. For Opened it is the socket's owner.
	PID uint32
	// Comm is that process's name, if known.
	Comm string
}

// Whole reports whether e identifies its socket without a re-read: an
// Opened event that carries the socket's address, port and inode (and so
// its UID and V6Only), or a Closed one that carries its inode. The kernel
// may have cleared an automatically chosen port by the time it reports a
// close, so a Closed event is matched by inode alone.
func (e Event) Whole() bool {
	switch e.Kind {
	case Opened:
		return e.Inode != 0 && e.Port != 0 && e.Addr.IsValid()
	case Closed:
		return e.Inode != 0
	}
	return false
}

// EventSource reports socket changes as they happen, in order, so the
// agent can update the listeners concerned instead of re-reading them all.
//
// RunEvents blocks until ctx is done (then it returns nil) or the source
// fails (then it returns why). It calls handle with each batch of events,
// from one goroutine, and waits for it to return: handle may take its
// time (the source buffers meanwhile) but must not keep the slice.
// An event that cannot be whole (see Event) is delivered again once the
// kernel has certainly finished the change it announced, so a re-read
// prompted by the first delivery that ran too early is corrected.
type EventSource interface {
	RunEvents(ctx context.Context, handle func([]Event)) error
}

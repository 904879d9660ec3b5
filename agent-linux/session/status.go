package session

import (
	"cmp"
	"slices"
	"sync"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
)

// statusBook holds what the daemon said, on the current stream, of this
// agent's listeners. A daemon of protocol revision 2 speaks only of a
// listener it did not forward on its own port (and of one forwarded again
// after that); a listener it never spoke of is forwarded as asked. An
// older daemon speaks of every listener whose status changed.
type statusBook struct {
	mu       sync.Mutex
	statuses map[statusKey]*wslfwdv1.ListenerStatus
	acted    uint64 // highest seq the daemon said it acted on
}

type statusKey struct {
	protocol wslfwdv1.Protocol
	listen   string
	port     uint32
}

// reset forgets everything: a new stream, whose daemon session knows
// nothing of what the previous one said.
func (b *statusBook) reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.statuses, b.acted = nil, 0
}

// record keeps the statuses of an update, each replacing the last one of
// its listener, and the seq it says the daemon acted on.
func (b *statusBook) record(up *wslfwdv1.ForwardStatusUpdate) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.statuses == nil {
		b.statuses = make(map[statusKey]*wslfwdv1.ListenerStatus)
	}
	for _, st := range up.GetStatuses() {
		b.statuses[statusKey{st.GetProtocol(), st.GetListen(), st.GetPort()}] = st
	}
	b.acted = max(b.acted, up.GetSeq())
}

// ack records the Ack of a daemon before revision 2.
func (b *statusBook) ack(seq uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.acted = max(b.acted, seq)
}

// forget drops the statuses of listeners that went away.
func (b *statusBook) forget(removed []*wslfwdv1.Listener) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, l := range removed {
		delete(b.statuses, statusKey{l.GetProtocol(), l.GetListen(), l.GetPort()})
	}
}

// list returns the statuses sorted by protocol, port and address, and
// the seq acted on.
func (b *statusBook) list() ([]*wslfwdv1.ListenerStatus, uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]*wslfwdv1.ListenerStatus, 0, len(b.statuses))
	for _, st := range b.statuses {
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b *wslfwdv1.ListenerStatus) int {
		return cmp.Or(cmp.Compare(a.GetProtocol(), b.GetProtocol()), cmp.Compare(a.GetPort(), b.GetPort()), cmp.Compare(a.GetListen(), b.GetListen()))
	})
	return out, b.acted
}

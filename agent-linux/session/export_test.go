package session

import (
	"cmp"
	"slices"
	"time"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
)

// Statuses returns what the daemon said, on the current stream, of the
// listeners it did not forward on their own port (a listener not listed
// is forwarded as asked), and the highest seq it said it acted on: what
// the package's external tests check. The agent itself reads them with
// Report.
func (s *Session) Statuses() ([]*wslfwdv1.ListenerStatus, uint64) { return s.book.list() }

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

// SetWelcomeTimeout sets how long a stream waits for the daemon's welcome
// and returns the value it had. Tests of this package do not run in
// parallel.
func SetWelcomeTimeout(d time.Duration) time.Duration {
	old := welcomeTimeout
	welcomeTimeout = d
	return old
}

package session

import (
	"context"
	"maps"
	"sync"
	"time"

	"github.com/wslfwd/wslfwd/agent-linux/tracker"
	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/internal/statuskey"
)

// Link is the state of the session's connection to the daemon.
type Link struct {
	Connected bool
	// Since is when the current stream was welcomed or, when not
	// connected, when the last one ended; zero before the first attempt
	// ended.
	Since time.Time
	// DaemonVersion is what the daemon said in its welcome.
	DaemonVersion string
	// LastError says why the last stream ended or could not open; RetryAt
	// is when the next attempt starts. Both are set only when not
	// connected.
	LastError string
	RetryAt   time.Time
}

// link guards the Link. It changes once per stream, never per event.
type link struct {
	mu sync.Mutex
	l  Link
}

func (k *link) get() Link {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.l
}

// up records the daemon's welcome.
func (k *link) up(daemonVersion string, now time.Time) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.l = Link{Connected: true, Since: now, DaemonVersion: daemonVersion}
}

// down records why the stream ended and when the next attempt starts.
func (k *link) down(why string, now, retry time.Time) {
	k.mu.Lock()
	defer k.mu.Unlock()
	since := now
	if !k.l.Connected && !k.l.Since.IsZero() {
		since = k.l.Since // still down: since the first failure
	}
	k.l = Link{Since: since, LastError: why, RetryAt: retry}
}

// Report is what the session can tell of the daemon's view of this
// distro's listeners, for `wslfwd-agent status`.
type Report struct {
	Link
	// Acted is the highest seq the daemon said it acted on.
	Acted uint64
	// Confirmed is the latest state the daemon acted on as far as the
	// agent knows, nil if none on this stream: its listeners the daemon
	// said nothing of are forwarded on their own port, as asked.
	Confirmed *tracker.State
	// Statuses is what the daemon said of listeners it did not forward
	// as asked.
	Statuses map[statuskey.Key]*wslfwdv1.ListenerStatus
	// Cut is the last state sent when the distro had more listeners than
	// the daemon accepts (MaxListeners), nil when it had not: the
	// listeners outside it were not reported.
	Cut          *tracker.State
	MaxListeners uint32
}

// Report asks the daemon, when connected, to say once it has acted on
// everything sent so far (a Changes message with want_reply, empty if
// nothing changed), waits for that until ctx ends, and returns what the
// session then knows. It costs the agent nothing until called.
func (s *Session) Report(ctx context.Context) Report {
	if s.link.get().Connected {
		s.sync(ctx)
	}
	s.book.mu.Lock()
	r := Report{Statuses: maps.Clone(s.book.statuses), Acted: s.book.acted, Confirmed: s.book.confirmed,
		Cut: s.book.cut, MaxListeners: s.book.max}
	s.book.mu.Unlock()
	r.Link = s.link.get()
	return r
}

// sync has the stream ask the daemon for a reply and waits for it, or
// for ctx to end.
func (s *Session) sync(ctx context.Context) {
	req := make(chan (<-chan struct{}), 1)
	select {
	case s.syncs <- req:
	case <-ctx.Done():
		return
	}
	var done <-chan struct{}
	select {
	case done = <-req:
	case <-ctx.Done():
		return
	}
	if done == nil { // the stream could not send it
		return
	}
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// StatusOf returns what the daemon said of l, nil if nothing.
func (r Report) StatusOf(l *wslfwdv1.Listener) *wslfwdv1.ListenerStatus {
	return r.Statuses[statuskey.OfListener(l)]
}

// Unreported reports whether the last message left l out, the distro
// having more listeners than the daemon accepts.
func (r Report) Unreported(l *wslfwdv1.Listener) bool {
	if r.Cut == nil {
		return false
	}
	_, ok := r.Cut.Listeners.Get(tracker.KeyOf(l))
	return !ok
}

// ActedOn reports whether the daemon acted on a message that carried l.
func (r Report) ActedOn(l *wslfwdv1.Listener) bool {
	if r.Confirmed == nil {
		return false
	}
	_, ok := r.Confirmed.Listeners.Get(tracker.KeyOf(l))
	return ok
}

// Link returns the state of the connection to the daemon.
func (s *Session) Link() Link { return s.link.get() }

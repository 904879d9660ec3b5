package tracker

import (
	"slices"
	"time"

	"github.com/wslfwd/wslfwd/agent-linux/trigger"
	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
)

// Partial is a Source that can also update some listeners without reading
// them all, which is what makes an event cost microseconds instead of a
// full scan. The tracker uses it for Triggers.Events; with a Source that
// is not Partial every event batch costs a full listener read.
type Partial interface {
	// ListenersIn reads the listeners in scope.
	ListenersIn(s Scope) ([]*wslfwdv1.Listener, error)
	// Opened returns the listener a whole Opened event describes
	// (trigger.Event.Whole), owned by the event's process.
	Opened(ev trigger.Event) *wslfwdv1.Listener
	// Closed says that the socket with this inode stopped listening.
	Closed(inode uint64)
}

// Scope selects listeners for a partial read.
type Scope struct {
	Protocol wslfwdv1.Protocol
	Family   wslfwdv1.AddressFamily // UNSPECIFIED: both
	Port     uint32                 // 0: every port
	// PID is the process that changed the scope, if known: the owner of
	// a socket found there that was not known before.
	PID uint32
}

// contains reports whether l is in s.
func (s Scope) contains(l *wslfwdv1.Listener) bool {
	return l.GetProtocol() == s.Protocol &&
		(s.Family == wslfwdv1.AddressFamily_ADDRESS_FAMILY_UNSPECIFIED || l.GetFamily() == s.Family) &&
		(s.Port == 0 || l.GetPort() == s.Port)
}

// scopeOf is what ev narrows a re-read to. Only an Opened event names
// the owner of a socket found there: a close makes no socket, and any
// user can close a UDP socket it never bound (the kernel reports that
// too), which would otherwise name that user the owner of whichever
// socket the re-read happens to find new, such as one another user's
// sendto bound without an event of its own.
func scopeOf(ev trigger.Event) Scope {
	s := Scope{Protocol: wslfwdv1.Protocol_PROTOCOL_TCP, Port: uint32(ev.Port)}
	if ev.Kind == trigger.Opened {
		s.PID = ev.PID
	}
	if ev.Protocol == udp {
		s.Protocol = wslfwdv1.Protocol_PROTOCOL_UDP
	}
	switch ev.Family {
	case af4:
		s.Family = wslfwdv1.AddressFamily_ADDRESS_FAMILY_IPV4
	case af6:
		s.Family = wslfwdv1.AddressFamily_ADDRESS_FAMILY_IPV6
	}
	return s
}

// Kernel numbers in trigger.Event (the tracker itself is portable).
const (
	udp = 17 // IPPROTO_UDP
	af4 = 2  // AF_INET
	af6 = 10 // AF_INET6
)

// maxScopes is how many distinct partial reads one batch may cost; beyond
// that one full read is cheaper.
const maxScopes = 16

// handle applies a batch from the event source, in the source's
// goroutine: the kernel's ring buffer holds further events meanwhile, and
// no hand-off to another goroutine is paid per event.
func (t *Tracker) handle(evs []trigger.Event) {
	src, partial := t.cfg.Source.(Partial)
	if !partial || slices.ContainsFunc(evs, func(e trigger.Event) bool { return e.Kind == trigger.Lost }) {
		_ = t.scan(dirtyListeners) // logged inside
	}
	if partial {
		_ = t.apply(src, evs) // logged inside
	}
}

// apply updates the listeners the events name: whole events directly,
// the others by reading their scope again. It costs what the events
// touch: no walk or copy of the whole listener set.
func (t *Tracker) apply(src Partial, evs []trigger.Event) error {
	t.scanMu.Lock()
	defer t.scanMu.Unlock()
	cur, _ := t.Current()
	shown, _ := t.shownNow()
	c := change{b: builder{base: cur.Listeners}}
	var scopes []Scope
	now := time.Now()
	for _, ev := range evs {
		switch {
		case ev.Kind == trigger.Lost:
		case ev.Whole() && ev.Kind == trigger.Opened:
			l := src.Opened(ev)
			t.journal(entry{at: now, opened: l})
			if t.keep(l, shown) {
				c.add(l)
			}
		case ev.Whole() && ev.Kind == trigger.Closed:
			src.Closed(ev.Inode)
			p := scopeOf(ev).Protocol
			t.journal(entry{at: now, protocol: p, inode: ev.Inode})
			c.closed(p, ev.Inode)
		default:
			scopes = addScope(scopes, scopeOf(ev))
		}
	}
	err := t.reread(scopes, &c, shown)
	t.report("listeners", err)
	if c.b.changed() {
		next := cur
		next.Listeners = c.b.set()
		t.publish(next, c.added, c.removed)
	}
	return err
}

// reread reads the listeners in scopes again into c: each scope alone when
// the Source is Partial and they are few, else all listeners at once.
// Callers hold scanMu.
func (t *Tracker) reread(scopes []Scope, c *change, shown map[uint64]bool) error {
	if len(scopes) == 0 {
		return nil
	}
	src, partial := t.cfg.Source.(Partial)
	if !partial || len(scopes) > maxScopes {
		ls, err := t.cfg.Source.Listeners()
		if err == nil {
			c.replace(Scope{}, ls, t, shown)
		}
		return err
	}
	var err error
	for _, s := range scopes {
		ls, serr := src.ListenersIn(s)
		if serr != nil {
			err = serr
			continue
		}
		c.replace(s, ls, t, shown)
	}
	return err
}

// addScope adds s to ss unless one of them already reads what s would.
// Such a scope stands for the events of several processes when theirs
// differ, so it names none: the owner of a new socket there is then looked
// up, not assumed to be the first event's process.
func addScope(ss []Scope, s Scope) []Scope {
	for i, x := range ss {
		if x.Protocol == s.Protocol && x.Family == s.Family && x.Port == s.Port {
			if x.PID != s.PID {
				ss[i].PID = 0
			}
			return ss
		}
	}
	return append(ss, s)
}

// change builds the next listener set from the current one and notes
// what was added and removed.
type change struct {
	b              builder
	added, removed []*wslfwdv1.Listener
}

// add adds l, or, when its listener is there already, updates it if l
// names an owner that one does not (ownerNews): an update is listed as
// added, and the daemon replaces what it holds under the same key.
func (c *change) add(l *wslfwdv1.Listener) {
	k := KeyOf(l)
	old, held := c.b.get(k)
	if held && !ownerNews(old, l) {
		return
	}
	c.b.put(k, l)
	if held {
		if i := c.addedAt(k); i >= 0 {
			c.added[i] = l // updated again in this change: listed once
			return
		}
	}
	c.added = append(c.added, l)
}

// addedAt returns where this change's added list holds k, or -1.
func (c *change) addedAt(k Key) int {
	for i := len(c.added) - 1; i >= 0; i-- {
		if KeyOf(c.added[i]) == k {
			return i
		}
	}
	return -1
}

// ownerNews reports whether next, a later message of the listener of
// prev (one Key), names an owner prev does not: one found after the
// listener was first read (an owner search the walk budget put off), or
// another. A message that names none (a search not yet run) never
// replaces one that does.
func ownerNews(prev, next *wslfwdv1.Listener) bool {
	return next.GetPid() != 0 && (next.GetPid() != prev.GetPid() || next.GetProcessName() != prev.GetProcessName())
}

// remove removes the listener of k. One this change added, or updated,
// leaves the added list: a step's lists then say what it came to (a key
// in both is one removed and then opened again), which Changes composes
// removals first. Before updates a key could not be in both but for a
// listener both added and removed in one change, which came to nothing
// either way; an update and then a removal must come to a removal.
func (c *change) remove(k Key) {
	l, ok := c.b.get(k)
	if !ok {
		return
	}
	c.b.del(k)
	if i := c.addedAt(k); i >= 0 {
		c.added = slices.Delete(c.added, i, i+1)
		if _, held := c.b.base.Get(k); !held {
			return // added in this change: as if it never was
		}
	}
	c.removed = append(c.removed, l)
}

// closed removes the listener of protocol p with this inode.
func (c *change) closed(p wslfwdv1.Protocol, inode uint64) {
	for _, l := range c.b.view().withInode(inode) {
		if l.GetProtocol() == p {
			c.remove(KeyOf(l))
			return
		}
	}
}

// replace makes the listeners in scope s (the zero Scope: all) exactly
// those of ls that t keeps.
func (c *change) replace(s Scope, ls []*wslfwdv1.Listener, t *Tracker, shown map[uint64]bool) {
	all := s == Scope{}
	if all && c.same(ls, t, shown) {
		return // the common case of a periodic read: build nothing
	}
	want := make(map[Key]*wslfwdv1.Listener, len(ls))
	for _, l := range ls {
		if (all || s.contains(l)) && t.keep(l, shown) {
			l = t.shownName(l, shown)
			want[KeyOf(l)] = l
		}
	}
	var gone []Key
	for k, l := range c.b.view().All() {
		if _, ok := want[k]; !ok && (all || s.contains(l)) {
			gone = append(gone, k)
		}
	}
	for _, k := range gone {
		c.remove(k)
	}
	for _, l := range want {
		c.add(l)
	}
}

// same reports whether the listeners of ls that t keeps are exactly those
// in the map.
func (c *change) same(ls []*wslfwdv1.Listener, t *Tracker, shown map[uint64]bool) bool {
	m, n := c.b.view(), 0
	for _, l := range ls {
		if !t.keep(l, shown) {
			continue
		}
		if cur, ok := m.Get(KeyOf(l)); !ok || ownerNews(cur, t.shownName(l, shown)) {
			return false
		}
		n++
	}
	return n == m.Len()
}

// journalWindow is how far back a full read replays events (see replay).
const journalWindow = 100 * time.Millisecond

// entry is one whole event in the journal: a listener opened, or the
// socket of protocol with inode closed.
type entry struct {
	at       time.Time
	opened   *wslfwdv1.Listener
	protocol wslfwdv1.Protocol
	inode    uint64
}

// journal records e and forgets entries older than journalWindow.
func (t *Tracker) journal(e entry) {
	drop := 0
	for drop < len(t.recent) && e.at.Sub(t.recent[drop].at) > journalWindow {
		drop++
	}
	t.recent = append(t.recent[drop:], e)
}

// replay applies the journal's entries from journalWindow before start to
// a full read's result. The kernel reports a listen() just before it
// makes the socket visible to sock_diag, so a full read that runs in
// between would drop a listener an event already added, and nothing would
// bring it back until the next full read; replaying the events since
// shortly before the read puts it back. Replaying one the read already
// reflects changes nothing.
func (t *Tracker) replay(start time.Time, c *change, shown map[uint64]bool) {
	for _, e := range t.recent {
		if start.Sub(e.at) > journalWindow {
			continue
		}
		if e.opened != nil {
			if t.keep(e.opened, shown) {
				c.add(e.opened)
			}
		} else {
			c.closed(e.protocol, e.inode)
		}
	}
}

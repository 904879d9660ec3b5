package tracker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/wslfwd/wslfwd/agent-linux/trigger"
	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
)

// Source reads the current truth of the distro.
type Source interface {
	// Network returns interfaces and default routes.
	Network() (*wslfwdv1.NetworkState, error)
	// Listeners returns every listener in view, the agent's own included.
	// The tracker never modifies them, so a Source may hand out the same
	// objects again while they are unchanged, and it reads the slice only
	// until its next call, so a Source may reuse the slice.
	Listeners() ([]*wslfwdv1.Listener, error)
}

// Walker is a Source whose Listeners may search /proc for owners, paced
// by a budget of its own: Walked returns how long that took so far. The
// tracker takes it out of the cost that paces scans (ScanCost), or the
// two budgets would compound: a slow search would slow the scans that
// give it its turns.
type Walker interface {
	Walked() time.Duration
}

// OwnProcessName is the process name reported for the agent's own
// listeners that are shown (the probe echo listener).
const OwnProcessName = "wslfwd-agent"

// Config configures a Tracker.
type Config struct {
	Source Source
	// SelfPID's listeners are hidden, except those made visible with Show:
	// the daemon must not forward the agent's own sockets. 0 hides none.
	SelfPID int
	Logger  *slog.Logger
}

// Tracker keeps the current State and publishes each change.
type Tracker struct {
	cfg Config
	log *slog.Logger

	scanMu sync.Mutex // serialises reads of the Source
	dirty  atomic.Uint32
	costs  recentCosts // of the last full listener reads that found no change
	kick   chan struct{}

	mu       sync.Mutex
	cur      State
	changed  chan struct{}
	shown    map[uint64]bool // own listener inodes to report; replaced, never modified
	shownGen uint64          // counts the replacements of shown
	lastErr  map[string]string

	recent []entry   // the journal, guarded by scanMu
	quiet  quietRead // guarded by scanMu

	gen   uint64   // of cur; guarded by mu
	steps [64]step // how the last states were made, by gen; guarded by mu
}

const (
	dirtyListeners = 1 << iota
	dirtyNetwork
	dirtyTCP // the TCP listeners alone
	dirtyUDP // the UDP listeners alone
)

// New returns a Tracker with an empty state; call Refresh before use.
func New(cfg Config) *Tracker {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Tracker{
		cfg:     cfg,
		log:     cfg.Logger,
		kick:    make(chan struct{}, 1),
		changed: make(chan struct{}),
		shown:   map[uint64]bool{},
		lastErr: map[string]string{},
		cur:     State{Network: &wslfwdv1.NetworkState{}},
	}
}

// Current returns the current state and a channel closed when it is
// replaced.
func (t *Tracker) Current() (State, <-chan struct{}) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.cur, t.changed
}

// Show makes the agent's own listener with this inode visible (the probe
// echo listener, which the daemon must forward); Hide undoes it. Call
// Refresh afterwards to publish at once.
func (t *Tracker) Show(inode uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	shown := maps.Clone(t.shown)
	shown[inode] = true
	t.shown = shown
	t.shownGen++
}

// Hide undoes Show.
func (t *Tracker) Hide(inode uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	shown := maps.Clone(t.shown)
	delete(shown, inode)
	t.shown = shown
	t.shownGen++
}

// Refresh re-reads network and listeners now and publishes any change.
func (t *Tracker) Refresh() error {
	return t.scan(dirtyListeners | dirtyNetwork)
}

// ScanCost returns what a full listener read costs when nothing changed:
// the median of the last few such reads, or 0 before the first. It paces
// scans without the eBPF trigger, so it is the typical read, not the
// quickest: a periodic scan meets caches its predecessor left cold, and
// with a thousand listeners the quickest of eight reads was 5-10 % below
// their median. A read that found changes is not counted (see scan).
func (t *Tracker) ScanCost() time.Duration { return t.costs.median() }

// recentCosts keeps the durations of the last few reads. Safe for
// concurrent use.
type recentCosts struct {
	mu   sync.Mutex
	last [8]time.Duration
	n    int
}

func (r *recentCosts) add(d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.last[r.n%len(r.last)] = d
	r.n++
}

func (r *recentCosts) median() time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.n == 0 {
		return 0
	}
	sorted := r.last // a copy
	n := min(r.n, len(r.last))
	slices.Sort(sorted[:n])
	return sorted[n/2]
}

// Triggers say when to re-read what.
type Triggers struct {
	// Listeners wake a listener scan; several may run side by side.
	Listeners []trigger.Trigger
	// Events, if set, reports socket changes one by one; each updates the
	// listeners it names (see Partial).
	Events trigger.EventSource
	// Fallback wakes listener scans once Events has failed, so detection
	// degrades to scanning instead of waiting for the safety net.
	Fallback trigger.Trigger
	// Narrow wake re-reads of one protocol's listeners: those the event
	// source does not report when only part of it is live.
	Narrow []Narrow
	// Network wakes a network read (the netlink watch).
	Network trigger.Trigger
	// Full wakes both: a slow safety net for events a trigger missed.
	Full []trigger.Trigger
}

// Run runs the triggers and re-scans on every wake until ctx is done. It
// has no error to return: a trigger that fails is logged and the others
// carry on, and a failed scan is logged and keeps the last good state.
func (t *Tracker) Run(ctx context.Context, tr Triggers) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	start := func(name string, tg trigger.Trigger, bit uint32) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := tg.Run(ctx, func() { t.wake(bit) })
			if err != nil && ctx.Err() == nil {
				t.log.Warn("change trigger stopped; the others carry on", "trigger", name, "err", err)
			}
		}()
	}
	for i, tg := range tr.Listeners {
		start(fmt.Sprintf("listeners#%d %T", i, tg), tg, dirtyListeners)
	}
	if tr.Events != nil {
		start(fmt.Sprintf("events %T", tr.Events), trigger.Func(func(ctx context.Context, wake func()) error {
			err := tr.Events.RunEvents(ctx, t.handle)
			if err == nil || ctx.Err() != nil || tr.Fallback == nil {
				return err
			}
			t.log.Warn("socket events stopped; scanning instead", "err", err)
			wake() // whatever the events missed meanwhile
			return tr.Fallback.Run(ctx, wake)
		}), dirtyListeners)
	}
	for _, n := range tr.Narrow {
		start(fmt.Sprintf("%s %T", n.Protocol, n.Trigger), n.Trigger, n.bit())
	}
	if tr.Network != nil {
		start(fmt.Sprintf("network %T", tr.Network), tr.Network, dirtyNetwork)
	}
	for i, tg := range tr.Full {
		start(fmt.Sprintf("full#%d %T", i, tg), tg, dirtyListeners|dirtyNetwork)
	}
	defer wg.Wait()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.kick:
		}
		if what := t.dirty.Swap(0); what != 0 {
			_ = t.scan(what) // logged inside
		}
	}
}

// Narrow is a trigger whose wakes re-read one protocol's listeners.
type Narrow struct {
	Protocol wslfwdv1.Protocol // PROTOCOL_TCP or PROTOCOL_UDP
	Trigger  trigger.Trigger
}

func (n Narrow) bit() uint32 {
	if n.Protocol == wslfwdv1.Protocol_PROTOCOL_UDP {
		return dirtyUDP
	}
	return dirtyTCP
}

// narrowScopes returns the scopes of the protocols marked in what.
func narrowScopes(what uint32) []Scope {
	var ss []Scope
	if what&dirtyTCP != 0 {
		ss = append(ss, Scope{Protocol: wslfwdv1.Protocol_PROTOCOL_TCP})
	}
	if what&dirtyUDP != 0 {
		ss = append(ss, Scope{Protocol: wslfwdv1.Protocol_PROTOCOL_UDP})
	}
	return ss
}

// wake marks what needs re-reading; it never blocks and coalesces.
func (t *Tracker) wake(bit uint32) {
	t.dirty.Or(bit)
	select {
	case t.kick <- struct{}{}:
	default:
	}
}

func (t *Tracker) scan(what uint32) error {
	t.scanMu.Lock()
	defer t.scanMu.Unlock()
	start := time.Now()
	cur, _ := t.Current()
	next, changed := cur, false
	var errs []error
	var c change
	if what&dirtyNetwork != 0 {
		n, err := t.cfg.Source.Network()
		t.report("network", err)
		if err != nil {
			errs = append(errs, err)
		} else if !proto.Equal(n, cur.Network) {
			next.Network, changed = n, true
		}
	}
	if what&dirtyListeners == 0 && what&(dirtyTCP|dirtyUDP) != 0 {
		shown, _ := t.shownNow()
		c.b.base = cur.Listeners
		err := t.reread(narrowScopes(what), &c, shown)
		t.report("listeners", err)
		if err != nil {
			errs = append(errs, err)
		} else if c.b.changed() {
			next.Listeners, changed = c.b.set(), true
		}
	}
	if what&dirtyListeners != 0 {
		began, walked := time.Now(), t.walked()
		err := t.readAll(start, cur.Listeners, &c)
		if err != nil {
			errs = append(errs, err)
		} else if c.b.changed() {
			next.Listeners, changed = c.b.set(), true
		}
		// The cost paces scans (ScanCost): that of a scan that found
		// nothing new, comparing what was read with the current listeners
		// included, since every scan pays it. A scan that found changes
		// also searched /proc for new owners and built the change: the
		// price of the change, paid once. Counting it would slow scanning
		// most while listeners keep changing, when it matters most. Owner
		// searches a quiet scan makes (owners put off by the walk budget)
		// are that budget's to pace, and are taken out (Walker).
		if err == nil && !c.b.changed() {
			t.costs.add(max(0, time.Since(began)-(t.walked()-walked)))
		}
	}
	if changed {
		if next.Network != cur.Network {
			t.log.Info("network changed", "interfaces", len(next.Network.GetInterfaces()), "routes", len(next.Network.GetRoutes()))
		}
		t.publish(next, c.added, c.removed)
	}
	return errors.Join(errs...)
}

// walked is what the Source's owner searches took so far (Walker).
func (t *Tracker) walked() time.Duration {
	if w, ok := t.cfg.Source.(Walker); ok {
		return w.Walked()
	}
	return 0
}

// readAll reads every listener into c, built on cur, and replays the
// journal since shortly before start onto the result. Callers hold scanMu.
func (t *Tracker) readAll(start time.Time, cur Set, c *change) error {
	ls, err := t.cfg.Source.Listeners()
	t.report("listeners", err)
	if err != nil {
		return err
	}
	shown, gen := t.shownNow()
	c.b.base = cur
	quiet := !t.journaled(start)
	if quiet && t.quiet.holds(cur, ls, gen) {
		return nil
	}
	c.replace(Scope{}, ls, t, shown)
	t.replay(start, c, shown)
	if quiet && !c.b.changed() {
		t.quiet.record(cur, ls, gen)
	}
	return nil
}

// publish makes next the current state, made from the current one by
// adding and removing those listeners. Callers hold scanMu.
func (t *Tracker) publish(next State, added, removed []*wslfwdv1.Listener) {
	t.mu.Lock()
	t.gen++
	next.gen = t.gen
	t.steps[t.gen%uint64(len(t.steps))] = step{gen: t.gen, added: added, removed: removed}
	t.cur = next
	close(t.changed)
	t.changed = make(chan struct{})
	t.mu.Unlock()
	t.logListeners(added, removed)
}

// logListeners logs one line per listener opened or closed, at info
// level (the agent's default level, warn, leaves them out).
func (t *Tracker) logListeners(added, removed []*wslfwdv1.Listener) {
	if !t.log.Enabled(context.Background(), slog.LevelInfo) {
		return
	}
	for _, l := range added {
		t.log.Info("listener opened", "protocol", l.GetProtocol().String(), "listen", l.GetListen(), "port", l.GetPort(),
			"pid", l.GetPid(), "process", l.GetProcessName())
	}
	for _, l := range removed {
		t.log.Info("listener closed", "protocol", l.GetProtocol().String(), "listen", l.GetListen(), "port", l.GetPort(),
			"pid", l.GetPid(), "process", l.GetProcessName())
	}
}

// shownNow returns the own listeners to report and the generation of
// that set. The map is replaced on every Show and Hide, never modified, so
// it is handed out as is: an event costs no copy of it.
func (t *Tracker) shownNow() (map[uint64]bool, uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.shown, t.shownGen
}

// keep reports whether l is listed: the agent's own listeners are hidden,
// except the shown ones.
func (t *Tracker) keep(l *wslfwdv1.Listener, shown map[uint64]bool) bool {
	return t.cfg.SelfPID == 0 || int(l.GetPid()) != t.cfg.SelfPID || shown[l.GetInode()]
}

// shownName returns l as listed: a shown own listener carries
// OwnProcessName, and this process's pid even before a search of /proc
// has found its owner (a search the walk budget put off): the agent made
// it, so it knows.
func (t *Tracker) shownName(l *wslfwdv1.Listener, shown map[uint64]bool) *wslfwdv1.Listener {
	if !shown[l.GetInode()] || t.cfg.SelfPID == 0 || (l.GetPid() != 0 && int(l.GetPid()) != t.cfg.SelfPID) {
		return l
	}
	l = proto.CloneOf(l)
	l.Pid, l.ProcessName = uint32(t.cfg.SelfPID), OwnProcessName
	return l
}

// report logs a scan error once per distinct message, and the recovery.
func (t *Tracker) report(what string, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	prev := t.lastErr[what]
	switch {
	case err == nil && prev != "":
		delete(t.lastErr, what)
		t.log.Info("scan works again", "what", what)
	case err != nil && err.Error() != prev:
		t.lastErr[what] = err.Error()
		t.log.Warn("scan failed; keeping the last good state", "what", what, "err", err)
	}
}

// Changes is Diff for two states this tracker published, old first, made
// cheap: it composes the changes the tracker recorded between them instead
// of comparing every listener, which is what an agent sending a change per
// event would otherwise spend most of its time on. States it no longer has
// the steps for (too far apart, or not its own) are compared with Diff.
func (t *Tracker) Changes(old, cur State, seq uint64) *wslfwdv1.Changes {
	steps, ok := t.stepsBetween(old, cur)
	if !ok {
		return Diff(old, cur, seq)
	}
	c := &wslfwdv1.Changes{Seq: seq}
	if old.Network != cur.Network && !proto.Equal(old.Network, cur.Network) {
		c.Network = cur.Network
	}
	added := map[Key]*wslfwdv1.Listener{}
	removed := map[Key]*wslfwdv1.Listener{}
	// What each key comes to, against what old holds (the daemon's
	// view): removed if old held it and it is gone; added if it is new,
	// or if it names an owner old's message does not (an update). Only a
	// key a step touches twice needs old looked up: a removal of a key
	// not added since old was held by old, as it was; an addition of a
	// key not removed since is new, or an update, which the tracker lists
	// only when it differs from what it held.
	for _, s := range steps {
		for _, l := range s.removed {
			k := KeyOf(l)
			if added[k] == nil {
				removed[k] = l
				continue
			}
			delete(added, k)
			if prev, held := old.Listeners.Get(k); held {
				removed[k] = prev // an update of what old held, gone since
			}
		}
		for _, l := range s.added {
			k := KeyOf(l)
			if r := removed[k]; r != nil {
				delete(removed, k) // old holds r
				if ownerNews(r, l) {
					added[k] = l
				}
				continue
			}
			if added[k] != nil {
				if prev, held := old.Listeners.Get(k); held && !ownerNews(prev, l) {
					delete(added, k) // back to what old holds
					continue
				}
			}
			added[k] = l
		}
	}
	if c.Network == nil && len(added) == 0 && len(removed) == 0 {
		return nil
	}
	c.Added, c.Removed = sorted(added), sorted(removed)
	return c
}

// stepsBetween returns the steps from old to cur, if the tracker still
// has them all.
func (t *Tracker) stepsBetween(old, cur State) ([]step, bool) {
	if old.gen == 0 || cur.gen < old.gen || cur.gen-old.gen > uint64(len(t.steps)) {
		return nil, false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]step, 0, cur.gen-old.gen)
	for g := old.gen + 1; g <= cur.gen; g++ {
		s := t.steps[g%uint64(len(t.steps))]
		if s.gen != g {
			return nil, false
		}
		out = append(out, s)
	}
	return out, true
}

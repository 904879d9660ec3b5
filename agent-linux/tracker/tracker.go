package tracker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"sync/atomic"

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
	// objects again while they are unchanged.
	Listeners() ([]*wslfwdv1.Listener, error)
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
	kick   chan struct{}

	mu      sync.Mutex
	cur     State
	changed chan struct{}
	shown   map[uint64]bool // own listener inodes to report
	lastErr map[string]string
}

const (
	dirtyListeners = 1 << iota
	dirtyNetwork
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
		cur:     State{Network: &wslfwdv1.NetworkState{}, Listeners: map[Key]*wslfwdv1.Listener{}},
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
	t.shown[inode] = true
	t.mu.Unlock()
}

// Hide undoes Show.
func (t *Tracker) Hide(inode uint64) {
	t.mu.Lock()
	delete(t.shown, inode)
	t.mu.Unlock()
}

// Refresh re-reads network and listeners now and publishes any change.
func (t *Tracker) Refresh() error {
	return t.scan(dirtyListeners | dirtyNetwork)
}

// Triggers say when to re-read what.
type Triggers struct {
	// Listeners wake a listener scan; several may run side by side (an
	// event source and a slow safety ticker).
	Listeners []trigger.Trigger
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
	cur, _ := t.Current()
	next, changed := cur, false
	var errs []error
	if what&dirtyNetwork != 0 {
		n, err := t.cfg.Source.Network()
		t.report("network", err)
		if err != nil {
			errs = append(errs, err)
		} else if !proto.Equal(n, cur.Network) {
			next.Network, changed = n, true
		}
	}
	if what&dirtyListeners != 0 {
		ls, err := t.cfg.Source.Listeners()
		t.report("listeners", err)
		if err != nil {
			errs = append(errs, err)
		} else if m, ok := t.filter(ls, cur.Listeners); ok {
			next.Listeners, changed = m, true
		}
	}
	if changed {
		t.mu.Lock()
		t.cur = next
		close(t.changed)
		t.changed = make(chan struct{})
		t.mu.Unlock()
		t.logChanges(cur, next)
	}
	return errors.Join(errs...)
}

// logChanges logs one line per listener opened or closed and per network
// change, at info level.
func (t *Tracker) logChanges(old, cur State) {
	if !t.log.Enabled(context.Background(), slog.LevelInfo) {
		return
	}
	c := Diff(old, cur, 0)
	if c.GetNetwork() != nil {
		t.log.Info("network changed", "interfaces", len(cur.Network.GetInterfaces()), "routes", len(cur.Network.GetRoutes()))
	}
	for _, l := range c.GetAdded() {
		t.log.Info("listener opened", "protocol", l.GetProtocol().String(), "listen", l.GetListen(), "port", l.GetPort(),
			"pid", l.GetPid(), "process", l.GetProcessName())
	}
	for _, l := range c.GetRemoved() {
		t.log.Info("listener closed", "protocol", l.GetProtocol().String(), "listen", l.GetListen(), "port", l.GetPort(),
			"pid", l.GetPid(), "process", l.GetProcessName())
	}
}

// filter drops the agent's own listeners except the shown ones. It returns
// them as a map, or changed=false without building one when the set of keys
// equals cur's.
func (t *Tracker) filter(ls []*wslfwdv1.Listener, cur map[Key]*wslfwdv1.Listener) (_ map[Key]*wslfwdv1.Listener, changed bool) {
	t.mu.Lock()
	shown := maps.Clone(t.shown)
	t.mu.Unlock()
	keep := func(l *wslfwdv1.Listener) bool {
		return t.cfg.SelfPID == 0 || int(l.GetPid()) != t.cfg.SelfPID || shown[l.GetInode()]
	}
	n := 0
	for _, l := range ls {
		if !keep(l) {
			continue
		}
		if _, ok := cur[KeyOf(l)]; !ok {
			n = -1
			break
		}
		n++
	}
	if n == len(cur) {
		return cur, false
	}
	m := make(map[Key]*wslfwdv1.Listener, len(ls))
	for _, l := range ls {
		if !keep(l) {
			continue
		}
		if shown[l.GetInode()] {
			l = proto.CloneOf(l)
			l.ProcessName = OwnProcessName
		}
		m[KeyOf(l)] = l
	}
	return m, true
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

// Package engine is the daemon's engine: one goroutine that, whenever the
// agents, the static forwards or the config change, decides what should be
// forwarded (policy), makes the backend match (reconcile), keeps the
// forwards table, tells agents what became of their listeners, and streams
// the changes to watchers. Its Go API (Status, Forwards, Expose, Probe,
// Watch, ...) is what package control serves as ControlService; the engine
// itself knows nothing of gRPC, and its errors say what went wrong by kind
// (errors.go), not by status code.
//
// Changes kick the loop through a channel of size one, so a burst of
// changes coalesces into one run and the fast path has no timer. The timers
// are the registry's grace period, the end of the holds on the forwards a
// restarted daemon adopted (holds) and, only while forwards fail (backend
// errors, a state directory that cannot be written, a port held by another
// process, an entry nothing listens on), a retry with capped exponential
// backoff, so the daemon recovers by itself once the cause is gone.
package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/hostd-windows/agents"
	"github.com/wslfwd/wslfwd/hostd-windows/backend"
	"github.com/wslfwd/wslfwd/hostd-windows/config"
	"github.com/wslfwd/wslfwd/hostd-windows/ledger"
	"github.com/wslfwd/wslfwd/hostd-windows/metrics"
	"github.com/wslfwd/wslfwd/hostd-windows/policy"
	"github.com/wslfwd/wslfwd/hostd-windows/reconcile"
	"github.com/wslfwd/wslfwd/hostd-windows/statics"
	"github.com/wslfwd/wslfwd/internal/statuskey"
)

// Options configure an Engine.
type Options struct {
	Config     *config.Config
	Backend    backend.Backend
	Reconciler *reconcile.Reconciler
	Statics    *statics.Store
	// ExposeAddr is the host address forwards listen on by default.
	ExposeAddr netip.Addr
	// ListenAddrs are the gRPC server's addresses, for GetStatus; their
	// ports are never forwarded.
	ListenAddrs []netip.AddrPort
	// MetricsPort is the metrics endpoint's port, if it serves one: the
	// daemon's own too, so never forwarded.
	MetricsPort uint16
	// MovingListenAddrs, when set, reports the addresses the server also
	// listens on now that come and go (the WSL adapter's), for GetStatus.
	// They use a port of ListenAddrs.
	MovingListenAddrs func() []netip.AddrPort
	// StateDir is checked for writability in GetStatus.
	StateDir string
	// Grace, MaxListeners, MaxAgents and Targets configure the registry.
	Grace        time.Duration
	MaxListeners int
	MaxAgents    int
	Targets      agents.TargetRules
	// Problems adds platform checks to GetStatus; may be nil.
	Problems func(ctx context.Context) []*wslfwdv1.Problem
	// Firewall, when set (config firewall = true), keeps an inbound
	// firewall rule for every forwarded or directly reachable port.
	Firewall FirewallSyncer
	// FirewallAudit, when set and Firewall is not (firewall = false),
	// checks that inbound rules of the user's allow those ports and
	// names the ports they do not in GetStatus.
	FirewallAudit FirewallAuditor
	// Dial makes the probe's host-to-wsl and lan-to-wsl connections; nil
	// uses a net.Dialer. In-process tests route the distro's address to a
	// loopback echo server with it.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Metrics receives the engine's and the registry's figures and reads
	// the levels from the engine (levels.go); nil: figures of its own,
	// which Status still reports.
	Metrics *metrics.Metrics
	Logger  *slog.Logger
}

// Engine decides and keeps the forwards. Create it with New, feed its
// Registry from the agents' sessions, and Run it.
type Engine struct {
	opts Options
	log  *slog.Logger
	m    *metrics.Metrics
	reg  *agents.Registry
	fw   firewallKeeper // nil unless Options.Firewall or FirewallAudit is set
	kick chan struct{}
	done chan struct{} // closed when Run returns
	// Owned by the engine goroutine.
	retry      *time.Timer
	retryDelay time.Duration
	retryDue   atomic.Bool // the retry timer fired: the next step is full
	startedAt  time.Time
	held       holds // forwards adopted at start, held while agents reconnect
	heldBefore bool  // the previous step held forwards
	groups     policy.Groups
	marks      marks // the previous step's input

	// writable caches the state directory probe of GetStatus.
	writable struct {
		sync.Mutex
		at  time.Time
		err error
	}

	mu       sync.Mutex
	started  uint64        // runs begun
	finished uint64        // runs completed
	ran      chan struct{} // closed and replaced at the end of every run
	table    map[rowKey]*row
	index    index // of table
	agents   []*wslfwdv1.Agent
	runErr   error // backend or ledger error of the last run
	watchers map[*watcher]struct{}
	sent     map[string]map[statuskey.Key]*wslfwdv1.ListenerStatus // by session id
}

// New builds an engine. It does not start the loop: call Run.
func New(o Options) (*Engine, error) {
	if o.Config == nil || o.Backend == nil || o.Reconciler == nil || o.Statics == nil {
		return nil, errors.New("engine: config, backend, reconciler and statics are required")
	}
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	if o.Metrics == nil {
		o.Metrics = metrics.New()
	}
	d := &Engine{
		opts:      o,
		log:       log,
		m:         o.Metrics,
		kick:      make(chan struct{}, 1),
		done:      make(chan struct{}),
		startedAt: time.Now(),
		ran:       make(chan struct{}),
		table:     make(map[rowKey]*row),
		index:     newIndex(),
		groups:    policy.NewGroups(o.Config),
		watchers:  make(map[*watcher]struct{}),
		sent:      make(map[string]map[statuskey.Key]*wslfwdv1.ListenerStatus),
	}
	d.held = holds{until: d.startedAt.Add(o.Grace), records: o.Reconciler.Owned()}
	switch {
	case o.Firewall != nil:
		d.fw = newFirewallSync(o.Firewall, log.With("component", "firewall"), d.held.until)
	case o.FirewallAudit != nil:
		d.fw = newFirewallAudit(o.FirewallAudit, log.With("component", "firewall-audit"))
	}
	d.reg = agents.New(agents.Options{
		Grace:        o.Grace,
		MaxListeners: o.MaxListeners,
		MaxAgents:    o.MaxAgents,
		// Every distro of a VM sees the VM's sockets: one agent's
		// share of ports is the whole VM's (agents/vmcap.go).
		MaxPortsPerSource: o.MaxListeners,
		Targets:           o.Targets,
		Changed:           d.Kick,
		Refused:           d.m.AgentRefused,
		Logger:            log,
	})
	d.m.SetLevels(d.levels)
	return d, nil
}

// Registry is the agent registry the AgentService feeds.
func (d *Engine) Registry() *agents.Registry { return d.reg }

// Kick asks for a run. It never blocks; kicks during a run coalesce into
// one more run.
func (d *Engine) Kick() {
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

// Run runs the engine until ctx ends. The first run happens at once: it
// adopts the forwards owned from before a restart and holds them (holds)
// until their agents are back or grace ends, when one more run clears
// what nobody wants.
func (d *Engine) Run(ctx context.Context) error {
	defer close(d.done)
	defer d.scheduleRetry(false)
	if len(d.held.records) > 0 {
		end := time.AfterFunc(time.Until(d.held.until), d.Kick)
		defer end.Stop()
	}
	if d.fw != nil {
		var wg sync.WaitGroup
		wg.Go(func() { d.fw.run(ctx) })
		defer wg.Wait()
	}
	d.Kick()
	for {
		select {
		case <-ctx.Done():
			d.closeWatchers()
			return nil
		case <-d.kick:
		}
		d.step(ctx)
	}
}

// step is one run of the engine. It decides again only the port groups
// whose input changed (touched.go), or everything when a full step is due.
func (d *Engine) step(ctx context.Context) {
	d.mu.Lock()
	d.started++
	d.mu.Unlock()

	present, events, lost := d.reg.State()
	held := d.held.current(time.Now(), present)
	statics := d.opts.Statics.List()
	full := d.retryDue.Swap(false) || len(held) > 0 || d.heldBefore
	d.heldBefore = len(held) > 0
	only := d.marks.touched(present, statics, d.groups, full)
	prev := d.rowsIn(only)
	decisions := policy.Decide(d.policyInput(present, statics, only))
	began := time.Now()
	rep := d.opts.Reconciler.Reconcile(ctx, plan(decisions, held, prev, only))
	d.m.Reconciled(only == nil, time.Since(began))
	if rep.Err != nil {
		d.log.Warn("reconcile", "err", rep.Err)
	}

	now := time.Now()
	infos, sessions, modes := agentViews(present)

	d.mu.Lock()
	next := d.buildTable(decisions, rep, now)
	d.countActivations(next, present, now)
	d.addHeldRows(next, held, wantedKeys(decisions), rep, now)
	evs := make([]*wslfwdv1.WatchResponse, 0, len(events))
	for _, e := range events {
		evs = append(evs, &wslfwdv1.WatchResponse{Time: ts(now), Event: &wslfwdv1.WatchResponse_Agent{Agent: e}})
	}
	evs = append(evs, diff(prev, next, now)...)
	rulesChanged := d.replaceRows(only, next, modes)
	d.agents = infos
	if d.fw != nil && rulesChanged {
		d.fw.set(d.index.rules.list())
	}
	d.runErr = rep.Err
	failed := rep.Err != nil || d.index.failing > 0
	if lost > 0 {
		d.resyncWatchers() // what they missed is in the state the resync sends
	} else {
		d.publish(evs)
	}
	updates := d.statusUpdates(sessions, prev, next, only == nil)
	d.finished++
	close(d.ran)
	d.ran = make(chan struct{})
	d.mu.Unlock()

	d.scheduleRetry(failed)

	// Tell each agent, in one message, what it cannot infer of its
	// listeners, or answer the reply it asked for.
	for _, a := range present {
		if a.Connected {
			a.Session.Reply(updates[a.Session.ID], a.Seq)
		}
	}
}

// policyInput is what the policy decides from: the agents (connected or
// in grace), the static forwards and the config, for the port groups of
// only (nil: all).
func (d *Engine) policyInput(list []agents.Agent, statics []policy.Static, only map[uint16]bool) policy.Input {
	in := policy.Input{
		Agents:        make([]policy.Agent, 0, len(list)),
		Statics:       statics,
		Config:        d.opts.Config,
		ExposeAddr:    d.opts.ExposeAddr,
		ReservedPorts: d.reservedPorts(),
		Supports:      d.opts.Backend.Supports,
		Backend:       d.opts.Backend.Name(),
		PortCap:       d.opts.MaxListeners,
		Only:          only,
	}
	for _, a := range list {
		ls, capped := a.Listeners, a.Capped
		if only != nil {
			ls = listenersIn(ls, only, d.groups)
			capped = listenersIn(capped, only, d.groups)
		}
		in.Agents = append(in.Agents, policy.Agent{
			ID:          a.Session.ID,
			Distro:      a.Distro,
			Mode:        a.Mode,
			Targets:     a.Targets,
			Listeners:   ls,
			Capped:      capped,
			Connected:   a.Connected,
			ConnectedAt: a.Since,
		})
	}
	return in
}

// agentViews are the agents as ListAgents shows them, the connected
// agents' sessions by ID, and each distro's networking mode.
func agentViews(list []agents.Agent) ([]*wslfwdv1.Agent, map[string]*agents.Session, map[string]wslfwdv1.NetworkingMode) {
	infos := make([]*wslfwdv1.Agent, 0, len(list))
	sessions := make(map[string]*agents.Session, len(list))
	modes := make(map[string]wslfwdv1.NetworkingMode, len(list))
	for _, a := range list {
		infos = append(infos, a.Info)
		modes[a.Distro] = a.Mode
		if a.Connected {
			sessions[a.Session.ID] = a.Session
		}
	}
	return infos, sessions, modes
}

// plan asks the reconciler for what the policy wants, each entry with its
// distro, and to keep the held entries. A step of some port groups (only)
// asks about the keys their rows wanted before (prev) and want now.
func plan(decisions []policy.Decision, held []ledger.Record, prev map[rowKey]*row, only map[uint16]bool) reconcile.Plan {
	var p reconcile.Plan
	if only != nil {
		p.Keys = make(map[backend.Key]bool)
		for _, r := range prev {
			if r.wanted {
				p.Keys[r.entryKey()] = true
			}
		}
		for _, dc := range decisions {
			if dc.Want {
				p.Keys[dc.Entry.Key()] = true
			}
		}
	}
	for _, dc := range decisions {
		if dc.Want {
			p.Want = append(p.Want, ledger.Record{Entry: dc.Entry, Distro: dc.Distro})
		}
	}
	for _, h := range held {
		p.Hold = append(p.Hold, h.Entry)
	}
	return p
}

// wantedKeys are the keys the policy wants forwarded.
func wantedKeys(decisions []policy.Decision) map[backend.Key]bool {
	out := make(map[backend.Key]bool, len(decisions))
	for _, dc := range decisions {
		if dc.Want {
			out[dc.Entry.Key()] = true
		}
	}
	return out
}

// Retry delays while forwards fail.
const (
	minRetry = time.Second
	maxRetry = 8 * time.Second
)

// scheduleRetry arms one retry run after a run with failures, doubling
// the delay each time up to maxRetry; a clean run disarms it.
func (d *Engine) scheduleRetry(failed bool) {
	if d.retry != nil {
		d.retry.Stop()
		d.retry = nil
	}
	if !failed {
		d.retryDelay = 0
		return
	}
	d.retryDelay = min(max(2*d.retryDelay, minRetry), maxRetry)
	d.retry = time.AfterFunc(d.retryDelay, func() {
		d.retryDue.Store(true)
		d.Kick()
	})
}

// reservedPorts are the daemon's own ports, never forwarded.
func (d *Engine) reservedPorts() []uint16 {
	var out []uint16
	for _, a := range d.opts.ListenAddrs {
		out = append(out, a.Port())
	}
	if d.opts.MetricsPort != 0 {
		out = append(out, d.opts.MetricsPort)
	}
	return out
}

// errStopped answers calls that wait for the engine after it stopped.
var errStopped = errorf(ErrUnavailable, "the daemon is shutting down")

// waitRun waits until a run that began after the call has finished, so
// whatever the caller changed before is reflected in the table.
func (d *Engine) waitRun(ctx context.Context) error {
	d.mu.Lock()
	target := d.started + 1
	d.mu.Unlock()
	d.Kick()
	for {
		d.mu.Lock()
		done, ran := d.finished >= target, d.ran
		d.mu.Unlock()
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for the engine: %w", ctx.Err())
		case <-d.done:
			return errStopped
		case <-ran:
		}
	}
}

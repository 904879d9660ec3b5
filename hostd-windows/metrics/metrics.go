// Package metrics holds the daemon's figures: how many forwards are in
// each state, how many agents are connected, how long reconciles take,
// how often netsh runs and fails, how long a listener takes from the
// agent's message to an ACTIVE forward, which agent sessions and calls
// were refused, and which connections the daemon closed to stay under
// its connection caps. The parts that make them report to one Metrics
// through plain methods (the engine, the registry, the gRPC server, the
// portproxy backend); Snapshot reads them all at once, and both GetStatus
// (DaemonMetrics) and the Prometheus endpoint (collector.go, server.go)
// serve that snapshot, so the two can never disagree.
//
// Every label takes values from a small fixed set (a forward state, a
// backend name, a run kind, a gRPC code, a reason a connection was
// closed): never a port, a distro or an address, so what agents report
// cannot multiply the series.
package metrics

import (
	"sync"
	"sync/atomic"
	"time"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
)

// Metrics are the daemon's figures. Safe for concurrent use.
type Metrics struct {
	reconcileFull, reconcileIncremental *Histogram
	eventToActive                       *Histogram
	netshRuns, netshFailures            atomic.Uint64
	agentRefusals, callRefusals         byCode
	closedPastLimits, closedPending     atomic.Uint64

	mu     sync.Mutex
	levels func() Levels
}

// New returns figures at zero, with no levels until SetLevels.
func New() *Metrics {
	return &Metrics{
		reconcileFull:        newHistogram(ReconcileBuckets),
		reconcileIncremental: newHistogram(ReconcileBuckets),
		eventToActive:        newHistogram(EventToActiveBuckets),
		levels:               func() Levels { return Levels{} },
	}
}

// Levels are the figures that go up and down, read from their owner when
// a snapshot is taken rather than copied into Metrics.
type Levels struct {
	Forwards        []ForwardCount
	AgentsConnected int
}

// ForwardCount is how many rows of the forwards table are in one state
// with one backend ("" when nothing carries them).
type ForwardCount struct {
	State   wslfwdv1.ForwardState
	Backend string
	Count   int
}

// SetLevels names the function a snapshot reads the levels from: the
// engine's forwards table and agent registry.
func (m *Metrics) SetLevels(f func() Levels) {
	m.mu.Lock()
	m.levels = f
	m.mu.Unlock()
}

// Reconciled counts one reconcile of the given kind (full or
// incremental) and how long it took.
func (m *Metrics) Reconciled(full bool, d time.Duration) {
	if full {
		m.reconcileFull.Observe(d)
	} else {
		m.reconcileIncremental.Observe(d)
	}
}

// EventToActive counts the time from an agent's message that brought a
// listener to the end of the engine step that made its forward ACTIVE.
func (m *Metrics) EventToActive(d time.Duration) { m.eventToActive.Observe(d) }

// NetshRan counts one netsh process that ran a portproxy script, and
// whether it failed: the registry read back afterwards did not show
// every change it was to make (or it could not be run at all).
func (m *Metrics) NetshRan(failed bool) {
	m.netshRuns.Add(1)
	if failed {
		m.netshFailures.Add(1)
	}
}

// AgentRefused counts one agent session the registry or the server
// refused, by the gRPC code it was refused with (a fixed set of names).
func (m *Metrics) AgentRefused(code string) { m.agentRefusals.add(code) }

// CallRefused counts one call the server refused when its headers
// arrived (no valid token, a role not allowed, no room under the
// connection caps), by the gRPC code it was refused with.
func (m *Metrics) CallRefused(code string) { m.callRefusals.add(code) }

// ClosedPastLimits counts n connections the server closed to stay under
// its connection caps: pending ones that gave way to a newer connection,
// authenticated ones that gave way to a more or equally trusted one.
func (m *Metrics) ClosedPastLimits(n int) { m.closedPastLimits.Add(uint64(n)) }

// ClosedPendingTimeout counts one connection the server closed because it
// made no call with a valid token within the pending timeout.
func (m *Metrics) ClosedPendingTimeout() { m.closedPending.Add(1) }

// Snapshot is every figure at one moment.
type Snapshot struct {
	Levels
	ReconcileFull, ReconcileIncremental HistogramSnapshot
	EventToActive                       HistogramSnapshot
	NetshRuns, NetshFailures            uint64
	AgentRefusals, CallRefusals         []RefusalCount // by code
	// Connections closed by the daemon: past the connection caps, and
	// still pending at the pending timeout.
	ClosedPastLimits, ClosedPendingTimeout uint64
}

// Snapshot reads every figure.
func (m *Metrics) Snapshot() Snapshot {
	m.mu.Lock()
	levels := m.levels
	m.mu.Unlock()
	s := Snapshot{Levels: levels()}
	s.AgentRefusals = m.agentRefusals.snapshot()
	s.CallRefusals = m.callRefusals.snapshot()
	s.ClosedPastLimits = m.closedPastLimits.Load()
	s.ClosedPendingTimeout = m.closedPending.Load()
	s.ReconcileFull = m.reconcileFull.snapshot()
	s.ReconcileIncremental = m.reconcileIncremental.snapshot()
	s.EventToActive = m.eventToActive.snapshot()
	// Failures first: a run counted in between then shows in runs, never
	// as a failure of no run.
	s.NetshFailures = m.netshFailures.Load()
	s.NetshRuns = m.netshRuns.Load()
	return s
}

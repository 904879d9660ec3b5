// Package metrics holds the daemon's figures: how many forwards are in
// each state, how many agents are connected, how long reconciles take,
// how often netsh runs and fails, how long a listener takes from the
// agent's message to an ACTIVE forward, and which agent sessions were
// refused. The parts that make them report to one Metrics through plain
// methods (the engine, the registry, the portproxy backend); Snapshot
// reads them all at once, and both GetStatus (DaemonMetrics) and the
// Prometheus endpoint (collector.go, server.go) serve that snapshot, so
// the two can never disagree.
//
// Every label takes values from a small fixed set (a forward state, a
// backend name, a run kind, a gRPC code): never a port, a distro or an
// address, so what agents report cannot multiply the series.
package metrics

import (
	"cmp"
	"slices"
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

	mu       sync.Mutex
	refusals map[string]uint64 // by gRPC code name: a fixed set
	levels   func() Levels
}

// New returns figures at zero, with no levels until SetLevels.
func New() *Metrics {
	return &Metrics{
		reconcileFull:        newHistogram(ReconcileBuckets),
		reconcileIncremental: newHistogram(ReconcileBuckets),
		eventToActive:        newHistogram(EventToActiveBuckets),
		refusals:             make(map[string]uint64),
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

// AgentRefused counts one agent session the registry refused, by the
// gRPC code it was refused with (a fixed set of names).
func (m *Metrics) AgentRefused(code string) {
	m.mu.Lock()
	m.refusals[code]++
	m.mu.Unlock()
}

// Snapshot is every figure at one moment.
type Snapshot struct {
	Levels
	ReconcileFull, ReconcileIncremental HistogramSnapshot
	EventToActive                       HistogramSnapshot
	NetshRuns, NetshFailures            uint64
	Refusals                            []RefusalCount // by code
}

// RefusalCount is how many agent sessions were refused with one code.
type RefusalCount struct {
	Code  string
	Count uint64
}

// Snapshot reads every figure.
func (m *Metrics) Snapshot() Snapshot {
	m.mu.Lock()
	levels := m.levels
	s := Snapshot{Refusals: make([]RefusalCount, 0, len(m.refusals))}
	for c, n := range m.refusals {
		s.Refusals = append(s.Refusals, RefusalCount{Code: c, Count: n})
	}
	m.mu.Unlock()
	slices.SortFunc(s.Refusals, func(a, b RefusalCount) int { return cmp.Compare(a.Code, b.Code) })
	s.Levels = levels()
	s.ReconcileFull = m.reconcileFull.snapshot()
	s.ReconcileIncremental = m.reconcileIncremental.snapshot()
	s.EventToActive = m.eventToActive.snapshot()
	// Failures first: a run counted in between then shows in runs, never
	// as a failure of no run.
	s.NetshFailures = m.netshFailures.Load()
	s.NetshRuns = m.netshRuns.Load()
	return s
}

package metrics

import (
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
)

// The series the endpoint serves, all from one Snapshot per scrape.
var (
	descForwards = prometheus.NewDesc("wslfwd_forwards",
		"Rows of the forwards table by state and backend (backend \"none\" when nothing carries them).",
		[]string{"state", "backend"}, nil)
	descAgents = prometheus.NewDesc("wslfwd_agents_connected",
		"Agents with an open session.", nil, nil)
	descReconcile = prometheus.NewDesc("wslfwd_reconcile_duration_seconds",
		"Time one reconcile took (plan, apply, read back, verify), by kind: full or incremental.",
		[]string{"kind"}, nil)
	descEventToActive = prometheus.NewDesc("wslfwd_event_to_active_seconds",
		"From the daemon receiving the agent message that brought a listener to the end of the engine step that made its forward ACTIVE.",
		nil, nil)
	descNetshRuns = prometheus.NewDesc("wslfwd_netsh_runs_total",
		"netsh processes started to change portproxy entries.", nil, nil)
	descNetshFailures = prometheus.NewDesc("wslfwd_netsh_failures_total",
		"netsh runs after which the registry did not show every change made, or that could not start.", nil, nil)
	descRefusals = prometheus.NewDesc("wslfwd_agent_refusals_total",
		"Agent sessions the daemon refused, by gRPC code.", []string{"code"}, nil)
	descCallRefusals = prometheus.NewDesc("wslfwd_call_refusals_total",
		"Calls refused when their headers arrived, by gRPC code: Unauthenticated (no valid token), PermissionDenied (role not allowed), ResourceExhausted (no room under the authenticated connection caps).",
		[]string{"code"}, nil)
	descClosed = prometheus.NewDesc("wslfwd_connections_closed_total",
		"Connections the daemon closed, by reason: limit (past the connection caps, to admit a newer one) or pending_timeout (no call with a valid token in time).",
		[]string{"reason"}, nil)
)

// The values of wslfwd_connections_closed_total's reason label.
const (
	ReasonLimit          = "limit"
	ReasonPendingTimeout = "pending_timeout"
)

// collector serves a Metrics to Prometheus.
type collector struct{ m *Metrics }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descForwards, descAgents, descReconcile, descEventToActive,
		descNetshRuns, descNetshFailures, descRefusals, descCallRefusals, descClosed} {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	s := c.m.Snapshot()
	for _, f := range s.Forwards {
		ch <- prometheus.MustNewConstMetric(descForwards, prometheus.GaugeValue, float64(f.Count),
			stateLabel(f.State), backendLabel(f.Backend))
	}
	ch <- prometheus.MustNewConstMetric(descAgents, prometheus.GaugeValue, float64(s.AgentsConnected))
	ch <- constHistogram(descReconcile, s.ReconcileFull, "full")
	ch <- constHistogram(descReconcile, s.ReconcileIncremental, "incremental")
	ch <- constHistogram(descEventToActive, s.EventToActive)
	ch <- prometheus.MustNewConstMetric(descNetshRuns, prometheus.CounterValue, float64(s.NetshRuns))
	ch <- prometheus.MustNewConstMetric(descNetshFailures, prometheus.CounterValue, float64(s.NetshFailures))
	byCodeCounters(ch, descRefusals, s.AgentRefusals)
	byCodeCounters(ch, descCallRefusals, s.CallRefusals)
	ch <- prometheus.MustNewConstMetric(descClosed, prometheus.CounterValue, float64(s.ClosedPastLimits), ReasonLimit)
	ch <- prometheus.MustNewConstMetric(descClosed, prometheus.CounterValue, float64(s.ClosedPendingTimeout), ReasonPendingTimeout)
}

// byCodeCounters sends one counter of d per code.
func byCodeCounters(ch chan<- prometheus.Metric, d *prometheus.Desc, rs []RefusalCount) {
	for _, r := range rs {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(r.Count), r.Code)
	}
}

func constHistogram(d *prometheus.Desc, h HistogramSnapshot, labels ...string) prometheus.Metric {
	buckets := make(map[float64]uint64, len(h.Buckets))
	for _, b := range h.Buckets {
		buckets[b.UpperBoundSeconds] = b.Count
	}
	return prometheus.MustNewConstHistogram(d, h.Count, h.SumSeconds, buckets, labels...)
}

// stateLabel is a forward state as a label value: "active", "error", ...
func stateLabel(s wslfwdv1.ForwardState) string {
	return strings.ToLower(strings.TrimPrefix(s.String(), "FORWARD_STATE_"))
}

// backendLabel is a backend name as a label value: "none" for rows no
// backend carries.
func backendLabel(b string) string {
	if b == "" {
		return "none"
	}
	return b
}

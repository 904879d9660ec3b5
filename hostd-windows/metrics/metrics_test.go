package metrics_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/hostd-windows/metrics"
	"github.com/wslfwd/wslfwd/hostd-windows/metrics/metricstest"
)

// filled is a Metrics with every figure moved.
func filled() *metrics.Metrics {
	m := metrics.New()
	m.SetLevels(func() metrics.Levels {
		return metrics.Levels{AgentsConnected: 2, Forwards: []metrics.ForwardCount{
			{State: wslfwdv1.ForwardState_FORWARD_STATE_ACTIVE, Backend: "relay", Count: 3},
			{State: wslfwdv1.ForwardState_FORWARD_STATE_BLOCKED, Count: 1},
		}}
	})
	m.Reconciled(true, 2*time.Millisecond)
	m.Reconciled(false, 200*time.Microsecond)
	m.Reconciled(false, 300*time.Microsecond)
	m.EventToActive(700 * time.Microsecond)
	m.NetshRan(false)
	m.NetshRan(true)
	m.AgentRefused("PermissionDenied")
	m.AgentRefused("PermissionDenied")
	m.AgentRefused("AlreadyExists")
	for range 3 {
		m.CallRefused("Unauthenticated")
	}
	m.CallRefused("ResourceExhausted")
	m.ClosedPastLimits(2)
	m.ClosedPastLimits(3)
	m.ClosedPendingTimeout()
	return m
}

func TestSnapshotAndProto(t *testing.T) {
	p := filled().Snapshot().Proto()
	if p.GetAgentsConnected() != 2 || len(p.GetForwards()) != 2 || p.GetForwards()[0].GetCount() != 3 {
		t.Errorf("levels %v", p)
	}
	if p.GetReconcileFull().GetCount() != 1 || p.GetReconcileIncremental().GetCount() != 2 || p.GetEventToActive().GetCount() != 1 {
		t.Errorf("histograms %v", p)
	}
	if p.GetNetshRuns() != 2 || p.GetNetshFailures() != 1 {
		t.Errorf("netsh %d runs %d failures, want 2 and 1", p.GetNetshRuns(), p.GetNetshFailures())
	}
	if got := refusals(p.GetAgentRefusals()); got != "AlreadyExists 1, PermissionDenied 2" {
		t.Errorf("agent refusals %s", got)
	}
	if got := refusals(p.GetCallRefusals()); got != "ResourceExhausted 1, Unauthenticated 3" {
		t.Errorf("call refusals %s", got)
	}
	if p.GetConnectionsClosedPastLimits() != 5 || p.GetConnectionsClosedPendingTimeout() != 1 {
		t.Errorf("connections closed: %d past the limits, %d at the pending timeout; want 5 and 1",
			p.GetConnectionsClosedPastLimits(), p.GetConnectionsClosedPendingTimeout())
	}
}

// refusals prints counts by code in their order: "A 1, B 2".
func refusals(rs []*wslfwdv1.RefusalCount) string {
	var parts []string
	for _, r := range rs {
		parts = append(parts, fmt.Sprintf("%s %d", r.GetCode(), r.GetCount()))
	}
	return strings.Join(parts, ", ")
}

// The endpoint serves the snapshot's figures under their documented names
// and labels.
func TestHandlerServesFigures(t *testing.T) {
	rec := httptest.NewRecorder()
	metrics.Handler(filled()).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, metrics.Path, nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", metrics.Path, rec.Code, rec.Body)
	}
	fams, err := metricstest.Parse(rec.Body)
	if err != nil {
		t.Fatal(err)
	}
	if got := fams.Value("wslfwd_forwards", "state", "active", "backend", "relay"); got != 3 {
		t.Errorf("active relay forwards %v, want 3", got)
	}
	if got := fams.Value("wslfwd_forwards", "state", "blocked", "backend", "none"); got != 1 {
		t.Errorf("blocked forwards %v, want 1", got)
	}
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"wslfwd_agents_connected", nil, 2},
		{"wslfwd_reconcile_duration_seconds", []string{"kind", "incremental"}, 2},
		{"wslfwd_event_to_active_seconds", nil, 1},
		{"wslfwd_netsh_runs_total", nil, 2},
		{"wslfwd_netsh_failures_total", nil, 1},
		{"wslfwd_agent_refusals_total", []string{"code", "PermissionDenied"}, 2},
		{"wslfwd_call_refusals_total", []string{"code", "Unauthenticated"}, 3},
		{"wslfwd_call_refusals_total", []string{"code", "ResourceExhausted"}, 1},
		{"wslfwd_connections_closed_total", []string{"reason", metrics.ReasonLimit}, 5},
		{"wslfwd_connections_closed_total", []string{"reason", metrics.ReasonPendingTimeout}, 1},
	} {
		if got := fams.Value(c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if _, ok := fams["go_goroutines"]; !ok {
		t.Error("no Go runtime figures")
	}
}

// Only GET (and HEAD) of the one path is answered.
func TestHandlerOnlyGetMetrics(t *testing.T) {
	h := metrics.Handler(metrics.New())
	for _, c := range []struct {
		method, path string
		want         int
	}{
		{http.MethodPost, metrics.Path, http.StatusMethodNotAllowed},
		{http.MethodGet, "/", http.StatusNotFound},
		{http.MethodGet, "/debug/pprof/", http.StatusNotFound},
		{http.MethodHead, metrics.Path, http.StatusOK},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(c.method, c.path, nil))
		if rec.Code != c.want {
			t.Errorf("%s %s: %d, want %d", c.method, c.path, rec.Code, c.want)
		}
	}
}

package daemon_test

import (
	"context"
	"testing"

	"google.golang.org/grpc/codes"
	grpcstatus "google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/hostd-windows/daemon/daemontest"
	"github.com/wslfwd/wslfwd/hostd-windows/metrics"
	"github.com/wslfwd/wslfwd/hostd-windows/metrics/metricstest"
	"github.com/wslfwd/wslfwd/hostd-windows/portproxy"
)

const active = wslfwdv1.ForwardState_FORWARD_STATE_ACTIVE

// fakeBackend is the name of daemontest's in-memory backend.
var fakeBackend = daemontest.NewBackend().Name()

func status(t *testing.T, h *daemontest.Daemon) *wslfwdv1.DaemonMetrics {
	t.Helper()
	resp, err := h.Control.GetStatus(daemontest.Ctx(t), &wslfwdv1.GetStatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	return resp.GetMetrics()
}

// One listener forwarded, one agent refused and one call refused move the
// figures, and the endpoint on loopback serves the same figures as
// GetStatus.
func TestMetricsFollowTheDaemon(t *testing.T) {
	h := daemontest.Start(t, daemontest.Options{MetricsEndpoint: true})
	a := h.Connect(t, "Ubuntu")
	a.Snapshot(daemontest.TCPListener("0.0.0.0", 8000))
	bad := h.Connect(t, "Debian")
	bad.Send(&wslfwdv1.AgentMessage{Msg: &wslfwdv1.AgentMessage_Snapshot{Snapshot: &wslfwdv1.Snapshot{Seq: 0}}})
	<-bad.Done()
	// The agent token may not call ControlService: refused by the server.
	_, err := wslfwdv1.NewControlServiceClient(h.Dial(t, h.Tokens.Agent)).GetStatus(daemontest.Ctx(t), &wslfwdv1.GetStatusRequest{})
	if grpcstatus.Code(err) != codes.PermissionDenied {
		t.Fatalf("GetStatus with the agent token: %v, want PermissionDenied", err)
	}

	m := status(t, h)
	if f := m.GetForwards(); len(f) != 1 || f[0].GetState() != active || f[0].GetBackend() != fakeBackend || f[0].GetCount() != 1 {
		t.Errorf("forwards %v, want one ACTIVE on %s", f, fakeBackend)
	}
	if m.GetAgentsConnected() != 1 {
		t.Errorf("%d agents connected, want 1", m.GetAgentsConnected())
	}
	if n := m.GetEventToActive().GetCount(); n != 1 {
		t.Errorf("event to active counted %d times, want 1", n)
	}
	if m.GetReconcileFull().GetCount()+m.GetReconcileIncremental().GetCount() == 0 {
		t.Error("no reconcile counted")
	}
	if r := m.GetAgentRefusals(); len(r) != 1 || r[0].GetCode() != "InvalidArgument" || r[0].GetCount() != 1 {
		t.Errorf("refusals %v, want one InvalidArgument", r)
	}
	if r := m.GetCallRefusals(); len(r) != 1 || r[0].GetCode() != "PermissionDenied" || r[0].GetCount() != 1 {
		t.Errorf("call refusals %v, want one PermissionDenied", r)
	}

	fams, err := metricstest.Scrape(h.MetricsURL)
	if err != nil {
		t.Fatal(err)
	}
	if again := status(t, h); !proto.Equal(again, m) {
		t.Fatalf("the figures moved while nothing happened:\n%v\n%v", m, again)
	}
	for _, c := range []struct {
		name   string
		labels []string
		want   uint64
	}{
		{"wslfwd_forwards", []string{"state", "active", "backend", fakeBackend}, 1},
		{"wslfwd_agents_connected", nil, uint64(m.GetAgentsConnected())},
		{"wslfwd_event_to_active_seconds", nil, m.GetEventToActive().GetCount()},
		{"wslfwd_reconcile_duration_seconds", []string{"kind", "full"}, m.GetReconcileFull().GetCount()},
		{"wslfwd_reconcile_duration_seconds", []string{"kind", "incremental"}, m.GetReconcileIncremental().GetCount()},
		{"wslfwd_agent_refusals_total", []string{"code", "InvalidArgument"}, 1},
		{"wslfwd_netsh_runs_total", nil, 0},
		{"wslfwd_call_refusals_total", []string{"code", "PermissionDenied"}, 1},
		{"wslfwd_connections_closed_total", []string{"reason", metrics.ReasonLimit}, m.GetConnectionsClosedPastLimits()},
		{"wslfwd_connections_closed_total", []string{"reason", metrics.ReasonPendingTimeout}, m.GetConnectionsClosedPendingTimeout()},
	} {
		if got := fams.Value(c.name, c.labels...); got != float64(c.want) {
			t.Errorf("%s%v = %v, GetStatus says %d", c.name, c.labels, got, c.want)
		}
	}
}

// noStore is a portproxy registry with nothing in it, and idleNetsh a
// netsh that does nothing and exits 0, as Wine's does.
type (
	noStore   struct{}
	idleNetsh struct{}
)

func (noStore) Read() ([]portproxy.Value, error)              { return nil, nil }
func (idleNetsh) Run(context.Context, string) ([]byte, error) { return nil, nil }

// A netsh that changes nothing is counted as failed, judged by the
// registry read back, and the forward is not ACTIVE.
func TestMetricsCountNetshFailures(t *testing.T) {
	m := metrics.New()
	be := portproxy.New(noStore{}, idleNetsh{}, portproxy.Options{NetshRan: m.NetshRan})
	h := daemontest.Start(t, daemontest.Options{Backend: be, Metrics: m})
	h.Connect(t, "Ubuntu").Snapshot(daemontest.TCPListener("0.0.0.0", 8000))

	got := status(t, h)
	if got.GetNetshRuns() == 0 || got.GetNetshFailures() != got.GetNetshRuns() {
		t.Errorf("netsh %d runs, %d failed; want every run failed", got.GetNetshRuns(), got.GetNetshFailures())
	}
	for _, f := range got.GetForwards() {
		if f.GetState() == active {
			t.Errorf("forwards %v: none may be ACTIVE", got.GetForwards())
		}
	}
	if got.GetEventToActive().GetCount() != 0 {
		t.Errorf("event to active counted %d times for a forward that never worked", got.GetEventToActive().GetCount())
	}
}

package engine_test

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/hostd-windows/backend"
	"github.com/wslfwd/wslfwd/hostd-windows/config"
	"github.com/wslfwd/wslfwd/hostd-windows/daemon/daemontest"
	"github.com/wslfwd/wslfwd/internal/waitfor"
)

const (
	active  = wslfwdv1.ForwardState_FORWARD_STATE_ACTIVE
	blocked = wslfwdv1.ForwardState_FORWARD_STATE_BLOCKED
)

func TestSnapshotBecomesForwards(t *testing.T) {
	be := daemontest.NewBackend()
	h := daemontest.Start(t, daemontest.Options{Backend: be})
	a := h.Connect(t, "Ubuntu")
	a.Snapshot(daemontest.TCPListener("0.0.0.0", 8080), daemontest.TCPListener("127.0.0.1", 9090))

	fw := h.Forwards(t, false)
	if len(fw) != 1 {
		t.Fatalf("forwards = %v, want one", fw)
	}
	f := fw[0]
	if f.GetState() != active || f.GetListenAddress() != "0.0.0.0" || f.GetListenPort() != 8080 ||
		f.GetConnectAddress() != daemontest.DistroAddr || f.GetConnectPort() != 8080 || f.GetDistro() != "Ubuntu" ||
		f.GetBackend() != "fake" || f.GetOrigin() != wslfwdv1.ForwardOrigin_FORWARD_ORIGIN_AGENT ||
		f.GetProcessName() != "svc" || f.GetPid() != 42 || f.GetSince() == nil || f.GetReason() != "" {
		t.Fatalf("forward = %v", f)
	}
	entries := be.Entries()
	want := backend.Entry{Protocol: backend.TCP, Listen: mustAP("0.0.0.0:8080"), Connect: mustAP(daemontest.DistroAddr + ":8080")}
	if len(entries) != 1 || entries[want.Key()] != want {
		t.Fatalf("backend holds %v, want %v", entries, want)
	}

	all := h.Forwards(t, true)
	if len(all) != 2 {
		t.Fatalf("all forwards = %v, want the forward and the blocked listener", all)
	}
	var b *wslfwdv1.Forward
	for _, f := range all {
		if f.GetListenerAddress() == "127.0.0.1" {
			b = f
		}
	}
	if b == nil || b.GetState() != blocked || b.GetReason() == "" || b.GetBackend() != "" {
		t.Fatalf("loopback listener = %v, want BLOCKED with a reason", b)
	}

	// The agent learns what became of a listener when it was not
	// forwarded as asked, and only then.
	if s := a.Status("0.0.0.0", 8080); s != nil {
		t.Fatalf("told of 8080, forwarded as asked: %v", s)
	}
	if s := a.Status("127.0.0.1", 9090); s == nil || s.GetState() != blocked || s.GetReason() == "" {
		t.Fatalf("status of 9090 = %v", s)
	}

	// Closing the service removes the forward.
	a.Changes(nil, []*wslfwdv1.Listener{daemontest.TCPListener("0.0.0.0", 8080)})
	if fw := h.Forwards(t, false); len(fw) != 0 {
		t.Fatalf("forwards after removal = %v", fw)
	}
	if entries := be.Entries(); len(entries) != 0 {
		t.Fatalf("backend still holds %v", entries)
	}

	st, err := h.Control.GetStatus(daemontest.Ctx(t), &wslfwdv1.GetStatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if st.GetBackend() != "fake" || st.GetAgentsConnected() != 1 || len(st.GetListenAddresses()) != 1 || st.GetExposeAddress() != "0.0.0.0" || len(st.GetProblems()) != 0 {
		t.Fatalf("status = %v", st)
	}
	if c := st.GetForwardsByState(); len(c) != 1 || c[0].GetState() != blocked || c[0].GetCount() != 1 {
		t.Fatalf("counts = %v, want one blocked", c)
	}
}

func TestTooManyListenersChangesNothing(t *testing.T) {
	be := daemontest.NewBackend()
	h := daemontest.Start(t, daemontest.Options{Backend: be, Config: func() *config.Config {
		c := config.Default()
		c.MaxListenersPerAgent = 2
		return c
	}()})
	a := h.Connect(t, "Ubuntu")
	a.Snapshot(daemontest.TCPListener("0.0.0.0", 8080))
	a.Send(&wslfwdv1.AgentMessage{Msg: &wslfwdv1.AgentMessage_Changes{Changes: &wslfwdv1.Changes{Seq: a.NextSeq(),
		Added: []*wslfwdv1.Listener{daemontest.TCPListener("0.0.0.0", 8081), daemontest.TCPListener("0.0.0.0", 8082)}}}})
	<-a.Done()
	if status.Code(a.Err()) != codes.InvalidArgument {
		t.Fatalf("stream ended with %v, want InvalidArgument", a.Err())
	}
	fw := h.Forwards(t, true)
	if len(fw) != 1 || fw[0].GetListenPort() != 8080 || fw[0].GetState() != active {
		t.Fatalf("forwards = %v, want 8080 alone, unchanged", fw)
	}
}

func mustAP(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

func kinds(t *testing.T, ch <-chan *wslfwdv1.WatchResponse, n int) []string {
	t.Helper()
	var out []string
	for range n {
		e, err := daemontest.Next(ch)
		if err != nil {
			t.Fatalf("after %v: %v", out, err)
		}
		if a := e.GetAgent(); a != nil {
			out = append(out, a.GetKind().String())
		} else {
			out = append(out, e.GetForward().GetKind().String())
		}
	}
	return out
}

func TestWatchEventsInOrder(t *testing.T) {
	h := daemontest.Start(t, daemontest.Options{Backend: daemontest.NewBackend(), Grace: 20 * time.Millisecond})
	ch := h.Watch(t, false)
	a := h.Connect(t, "Ubuntu")
	a.Snapshot(daemontest.TCPListener("0.0.0.0", 8080))
	got := kinds(t, ch, 2)
	want := []string{"AGENT_EVENT_KIND_CONNECTED", "FORWARD_EVENT_KIND_ADDED"}
	if !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	a.Changes([]*wslfwdv1.Listener{daemontest.TCPListener("127.0.0.1", 9090)}, []*wslfwdv1.Listener{daemontest.TCPListener("0.0.0.0", 8080)})
	got = kinds(t, ch, 2)
	want = []string{"FORWARD_EVENT_KIND_REMOVED", "FORWARD_EVENT_KIND_CHANGED"}
	if !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v (removal first, then the new blocked listener)", got, want)
	}
	a.Close()
	got = kinds(t, ch, 3)
	want = []string{"AGENT_EVENT_KIND_DISCONNECTED", "AGENT_EVENT_KIND_EXPIRED", "FORWARD_EVENT_KIND_REMOVED"}
	if !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}

	// A new watcher with initial gets the current state first.
	b := h.Connect(t, "Debian")
	b.Snapshot(daemontest.TCPListener("0.0.0.0", 7070))
	got = kinds(t, h.Watch(t, true), 2)
	want = []string{"AGENT_EVENT_KIND_CONNECTED", "FORWARD_EVENT_KIND_ADDED"}
	if !slices.Equal(got, want) {
		t.Fatalf("initial events %v, want %v", got, want)
	}
}

func TestGraceKeepsForwardsThroughReconnect(t *testing.T) {
	be := daemontest.NewBackend()
	h := daemontest.Start(t, daemontest.Options{Backend: be, Grace: time.Hour})
	a := h.Connect(t, "Ubuntu")
	a.Snapshot(daemontest.TCPListener("0.0.0.0", 8080))
	before := h.Forwards(t, false)
	if len(before) != 1 || before[0].GetState() != active {
		t.Fatalf("forwards = %v", before)
	}
	a.Close()
	waitfor.Cond(t, 10*time.Second, "the agent to be disconnected", func() bool {
		r, err := h.Control.ListAgents(daemontest.Ctx(t), &wslfwdv1.ListAgentsRequest{})
		return err == nil && len(r.GetAgents()) == 1 && !r.GetAgents()[0].GetConnected() && r.GetAgents()[0].GetGraceUntil() != nil
	})
	// Disconnected, in grace: the forward stays.
	if err := h.Engine().WaitRun(daemontest.Ctx(t)); err != nil {
		t.Fatal(err)
	}
	if fw := h.Forwards(t, false); len(fw) != 1 || fw[0].GetState() != active {
		t.Fatalf("forwards in grace = %v, want the forward kept", fw)
	}

	b := h.Connect(t, "Ubuntu")
	b.Snapshot(daemontest.TCPListener("0.0.0.0", 8080))
	after := h.Forwards(t, false)
	if len(after) != 1 || after[0].GetState() != active || !after[0].GetSince().AsTime().Equal(before[0].GetSince().AsTime()) {
		t.Fatalf("after reconnect %v, want the same forward, active since %v", after, before[0].GetSince().AsTime())
	}
	if removed, _ := be.Changes(); len(removed) != 0 {
		t.Fatalf("the backend removed %v during a reconnect within grace", removed)
	}
}

func TestGraceExpiryRemovesForwards(t *testing.T) {
	be := daemontest.NewBackend()
	h := daemontest.Start(t, daemontest.Options{Backend: be, Grace: 30 * time.Millisecond})
	a := h.Connect(t, "Ubuntu")
	a.Snapshot(daemontest.TCPListener("0.0.0.0", 8080))
	a.Close()
	waitfor.Cond(t, 10*time.Second, "the forward to go after the grace period", func() bool {
		return len(h.Forwards(t, true)) == 0
	})
	if entries := be.Entries(); len(entries) != 0 {
		t.Fatalf("backend after expiry holds %v", entries)
	}
	if r, err := h.Control.ListAgents(daemontest.Ctx(t), &wslfwdv1.ListAgentsRequest{}); err != nil || len(r.GetAgents()) != 0 {
		t.Fatalf("agents after expiry = %v %v", r, err)
	}
}

// An agent may only have forwards to its own addresses: a listener bound
// to another address is listed as blocked, and nothing reaches the backend.
func TestForeignAddressNotForwarded(t *testing.T) {
	be := daemontest.NewBackend()
	h := daemontest.Start(t, daemontest.Options{Backend: be})
	a := h.Connect(t, "Ubuntu")
	a.Snapshot(daemontest.TCPListener("198.51.100.7", 8080))
	all := h.Forwards(t, true)
	if len(all) != 1 || all[0].GetState() != blocked || !strings.Contains(all[0].GetReason(), "198.51.100.7") {
		t.Fatalf("forwards = %v, want the listener blocked naming its address", all)
	}
	if entries := be.Entries(); len(entries) != 0 {
		t.Fatalf("backend holds %v", entries)
	}
}

// A failed forward is retried without any other change once the cause
// is gone.
func TestFailedForwardIsRetried(t *testing.T) {
	be := daemontest.NewBackend()
	be.SetFailAdd(errors.New("backend hiccup"))
	h := daemontest.Start(t, daemontest.Options{Backend: be})
	a := h.Connect(t, "Ubuntu")
	a.Snapshot(daemontest.TCPListener("0.0.0.0", 8080))
	fw := h.Forwards(t, false)
	if len(fw) != 1 || fw[0].GetState() != wslfwdv1.ForwardState_FORWARD_STATE_ERROR || !strings.Contains(fw[0].GetReason(), "backend hiccup") {
		t.Fatalf("forwards = %v, want ERROR with the backend's reason", fw)
	}
	be.SetFailAdd(nil)
	waitfor.Cond(t, 10*time.Second, "the forward to be retried", func() bool {
		fw := h.Forwards(t, false)
		return len(fw) == 1 && fw[0].GetState() == active
	})
}

// portproxyNamed is the fake backend under portproxy's name, for the rules
// that apply to portproxy only.
type portproxyNamed struct{ *daemontest.Backend }

func (portproxyNamed) Name() string  { return "portproxy" }
func (portproxyNamed) Durable() bool { return true }

// Portproxy must never get an entry on loopback (it loops back into
// portproxy and collides with WSL's localhost relay): listeners are blocked
// with the reason, and Expose is refused with nothing stored.
func TestPortproxyNeverListensOnLoopback(t *testing.T) {
	be := portproxyNamed{daemontest.NewBackend()}
	h := daemontest.Start(t, daemontest.Options{Backend: be, Expose: netip.MustParseAddr("127.0.0.1")})
	a := h.Connect(t, "Ubuntu")
	a.Snapshot(daemontest.TCPListener("0.0.0.0", 8080))

	all := h.Forwards(t, true)
	if len(all) != 1 || all[0].GetState() != blocked || !strings.Contains(all[0].GetReason(), "loopback") {
		t.Fatalf("forwards = %v, want the listener BLOCKED for loopback", all)
	}
	if entries := be.Entries(); len(entries) != 0 {
		t.Fatalf("backend holds %v, want nothing", entries)
	}

	_, err := h.Control.Expose(daemontest.Ctx(t), &wslfwdv1.ExposeRequest{Port: 9000, Distro: "Ubuntu"})
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("Expose on the loopback expose address: %v, want InvalidArgument", err)
	}
	_, err = h.Control.Expose(daemontest.Ctx(t), &wslfwdv1.ExposeRequest{Port: 9000, Distro: "Ubuntu", ListenAddress: "127.0.0.2"})
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("Expose on 127.0.0.2: %v, want InvalidArgument", err)
	}
	if all := h.Forwards(t, true); len(all) != 1 {
		t.Fatalf("a refused Expose left %v", all)
	}
}

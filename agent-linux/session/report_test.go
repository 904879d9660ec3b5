package session_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/wslfwd/wslfwd/agent-linux/session"
	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
)

// startReport calls Report in the background and returns where its
// result arrives, and what ends its wait.
func startReport(t *testing.T, h *harness) (<-chan session.Report, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	out := make(chan session.Report, 1)
	go func() { out <- h.sess.Report(ctx) }()
	return out, cancel
}

func connected(t *testing.T, h *harness) {
	t.Helper()
	waitFor(t, "the daemon's welcome", func() bool { return h.sess.Link().Connected })
}

// A status request asks the daemon for a reply on an empty Changes (or
// on what changed meanwhile) and, once it came, knows which listeners
// the daemon acted on: those it said nothing of are forwarded as asked,
// one it spoke of has that status, and one opened after is not acted on.
func TestReportAsksTheDaemonAndConfirms(t *testing.T) {
	for _, old := range []bool{false, true} {
		name := map[bool]string{false: "revision 2 daemon", true: "revision 1 daemon"}[old]
		t.Run(name, func(t *testing.T) {
			_, h, fs := twoListeners(t)
			connected(t, h)
			got, _ := startReport(t, h)
			c := expectChanges(t, fs.next(t), 3, nil, nil)
			if !c.GetWantReply() {
				t.Fatalf("the status request's changes %v do not ask for a reply", c)
			}
			blocked := &wslfwdv1.ListenerStatus{Protocol: wslfwdv1.Protocol_PROTOCOL_TCP, Listen: "0.0.0.0", Port: 9090,
				State: wslfwdv1.ForwardState_FORWARD_STATE_BLOCKED, Reason: "port 9090 is in the deny list (deny_ports)"}
			if old {
				fs.out <- &wslfwdv1.HostMessage{Msg: &wslfwdv1.HostMessage_ForwardStatus{ForwardStatus: &wslfwdv1.ForwardStatusUpdate{
					Statuses: []*wslfwdv1.ListenerStatus{blocked}}}}
				fs.out <- &wslfwdv1.HostMessage{Msg: &wslfwdv1.HostMessage_Ack{Ack: &wslfwdv1.Ack{Seq: 3}}}
			} else {
				fs.out <- &wslfwdv1.HostMessage{Msg: &wslfwdv1.HostMessage_ForwardStatus{ForwardStatus: &wslfwdv1.ForwardStatusUpdate{
					Statuses: []*wslfwdv1.ListenerStatus{blocked}, Seq: 3}}}
			}
			r := <-got
			if !r.Connected || r.Acted != 3 || r.Confirmed == nil {
				t.Fatalf("report %+v: want connected, acted 3, a confirmed state", r)
			}
			if !r.ActedOn(tcp(8080, 1)) || r.StatusOf(tcp(8080, 1)) != nil {
				t.Errorf("port 8080: acted on %v, status %v; want acted on, no status (as asked)", r.ActedOn(tcp(8080, 1)), r.StatusOf(tcp(8080, 1)))
			}
			if st := r.StatusOf(tcp(9090, 2)); st.GetState() != wslfwdv1.ForwardState_FORWARD_STATE_BLOCKED {
				t.Errorf("port 9090: status %v, want BLOCKED", st)
			}
			if r.ActedOn(tcp(7070, 3)) {
				t.Error("port 7070, never sent, counts as acted on")
			}
		})
	}
}

// What changed but was not yet sent goes out with the request, so the
// reply covers it too.
func TestReportCarriesPendingChanges(t *testing.T) {
	_, h, fs := twoListeners(t)
	connected(t, h)
	// The tracker publishes 7070 and the stream sends it at once, or the
	// status request carries it: either way seq 3 adds it and the reply
	// to the request covers it.
	h.change(t, netWith("172.28.240.53"), tcp(8080, 1), tcp(9090, 2), tcp(7070, 3))
	got, _ := startReport(t, h)
	m := fs.next(t)
	expectChanges(t, m, 3, []uint32{7070}, nil)
	last := uint64(3)
	if !m.GetChanges().GetWantReply() {
		expectChanges(t, fs.next(t), 4, nil, nil)
		last = 4
	}
	fs.out <- &wslfwdv1.HostMessage{Msg: &wslfwdv1.HostMessage_ForwardStatus{ForwardStatus: &wslfwdv1.ForwardStatusUpdate{Seq: last}}}
	if r := <-got; !r.ActedOn(tcp(7070, 3)) {
		t.Fatalf("report %+v: port 7070 not acted on after the reply", r)
	}
}

// A daemon that does not answer before the request gives up leaves
// nothing confirmed; the request still returns.
func TestReportWithoutReply(t *testing.T) {
	_, h, fs := twoListeners(t)
	connected(t, h)
	got, giveUp := startReport(t, h)
	expectChanges(t, fs.next(t), 3, nil, nil)
	giveUp()
	if r := <-got; !r.Connected || r.Confirmed != nil || r.ActedOn(tcp(8080, 1)) {
		t.Fatalf("report %+v: want connected and nothing confirmed", r)
	}
}

// Not connected: the report says why and when the next attempt is, at
// once, without asking anything.
func TestReportWhenNotConnected(t *testing.T) {
	d := startDaemon(t, testToken)
	d.reject.Store(true)
	h := newHarness(t, d.addr, testToken)
	h.cfg.MinBackoff, h.cfg.MaxBackoff = time.Minute, time.Minute
	h.run(t)
	waitFor(t, "a failed attempt", func() bool { return h.sess.Link().LastError != "" })
	r := h.sess.Report(context.Background())
	if r.Connected || !strings.Contains(r.LastError, "daemon restarting") || r.RetryAt.Before(r.Since) || r.Since.IsZero() {
		t.Fatalf("report %+v: want not connected, the daemon's reason, since and a retry time after it", r)
	}
}

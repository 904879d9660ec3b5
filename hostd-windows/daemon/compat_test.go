package daemon

import (
	"testing"
	"time"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
)

// An agent of protocol revision 1 asks for no reply and only logs what it
// is told: its listeners are forwarded, it hears of the one that is not,
// in one update, and gets no Ack or word of the forward that went as asked.
func TestRevision1AgentGetsOneUpdateAndNoAcks(t *testing.T) {
	h := startHarness(t, harnessOptions{backend: newFakeBackend()})
	a := h.connect(t, "Ubuntu") // its hello says revision 1
	a.seq++
	a.send(&wslfwdv1.AgentMessage{Msg: &wslfwdv1.AgentMessage_Snapshot{Snapshot: &wslfwdv1.Snapshot{
		Seq: a.seq, Network: agentNetwork(), Listeners: []*wslfwdv1.Listener{tcpListener("0.0.0.0", 8080), tcpListener("127.0.0.1", 9090)}}}})
	waitFor(t, "the forward", func() bool { return len(h.forwards(t, false)) == 1 })
	m, err := nextHostMessage(a)
	if err != nil {
		t.Fatal(err)
	}
	st := m.GetForwardStatus().GetStatuses()
	if len(st) != 1 || st[0].GetPort() != 9090 || st[0].GetState() != blocked || m.GetForwardStatus().GetSeq() != 1 {
		t.Fatalf("the agent got %v, want one update on the blocked listener at seq 1", m)
	}
	// Another change that goes as asked: nothing to say, nothing sent.
	a.seq++
	a.send(&wslfwdv1.AgentMessage{Msg: &wslfwdv1.AgentMessage_Changes{Changes: &wslfwdv1.Changes{
		Seq: a.seq, Added: []*wslfwdv1.Listener{tcpListener("0.0.0.0", 8081)}}}})
	waitFor(t, "the second forward", func() bool { return len(h.forwards(t, false)) == 2 })
	// A reply asked for now comes after every message before it, so it
	// shows whether anything else was sent.
	a.changes([]*wslfwdv1.Listener{tcpListener("0.0.0.0", 8082)}, nil)
	if m, err := nextHostMessage(a); err != nil || m.GetForwardStatus().GetSeq() != a.seq || len(m.GetForwardStatus().GetStatuses()) != 0 {
		t.Fatalf("the agent got %v (%v), want only the reply it asked for", m, err)
	}
}

// nextHostMessage is the next message the fake agent got from the daemon.
func nextHostMessage(a *fakeAgent) (*wslfwdv1.HostMessage, error) {
	select {
	case m := <-a.in:
		return m, nil
	case <-a.done:
		return nil, a.err
	case <-time.After(10 * time.Second):
		return nil, errTimeout
	}
}

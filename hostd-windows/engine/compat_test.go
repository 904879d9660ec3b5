package engine_test

import (
	"errors"
	"testing"
	"time"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/hostd-windows/daemon/daemontest"
	"github.com/wslfwd/wslfwd/internal/waitfor"
)

// An agent of protocol revision 1 asks for no reply and only logs what it
// is told: its listeners are forwarded, it hears of the one that is not,
// in one update, and gets no Ack or word of the forward that went as asked.
func TestRevision1AgentGetsOneUpdateAndNoAcks(t *testing.T) {
	h := daemontest.Start(t, daemontest.Options{})
	a := h.Connect(t, "Ubuntu") // its hello says revision 1
	a.Send(&wslfwdv1.AgentMessage{Msg: &wslfwdv1.AgentMessage_Snapshot{Snapshot: &wslfwdv1.Snapshot{
		Seq: a.NextSeq(), Network: daemontest.Network(),
		Listeners: []*wslfwdv1.Listener{daemontest.TCPListener("0.0.0.0", 8080), daemontest.TCPListener("127.0.0.1", 9090)}}}})
	waitfor.Cond(t, 10*time.Second, "the forward", func() bool { return len(h.Forwards(t, false)) == 1 })
	m, err := nextHostMessage(a)
	if err != nil {
		t.Fatal(err)
	}
	st := m.GetForwardStatus().GetStatuses()
	if len(st) != 1 || st[0].GetPort() != 9090 || st[0].GetState() != blocked || m.GetForwardStatus().GetSeq() != 1 {
		t.Fatalf("the agent got %v, want one update on the blocked listener at seq 1", m)
	}
	// Another change that goes as asked: nothing to say, nothing sent.
	a.Send(&wslfwdv1.AgentMessage{Msg: &wslfwdv1.AgentMessage_Changes{Changes: &wslfwdv1.Changes{
		Seq: a.NextSeq(), Added: []*wslfwdv1.Listener{daemontest.TCPListener("0.0.0.0", 8081)}}}})
	waitfor.Cond(t, 10*time.Second, "the second forward", func() bool { return len(h.Forwards(t, false)) == 2 })
	// A reply asked for now comes after every message before it, so it
	// shows whether anything else was sent.
	a.Changes([]*wslfwdv1.Listener{daemontest.TCPListener("0.0.0.0", 8082)}, nil)
	if m, err := nextHostMessage(a); err != nil || m.GetForwardStatus().GetSeq() != 3 || len(m.GetForwardStatus().GetStatuses()) != 0 {
		t.Fatalf("the agent got %v (%v), want only the reply it asked for, to seq 3", m, err)
	}
}

// nextHostMessage is the next message the agent got from the daemon.
func nextHostMessage(a *daemontest.Agent) (*wslfwdv1.HostMessage, error) {
	select {
	case m := <-a.Messages():
		return m, nil
	case <-a.Done():
		return nil, a.Err()
	case <-time.After(10 * time.Second):
		return nil, errors.New("no message from the daemon in 10s")
	}
}

package session

import (
	"fmt"
	"testing"

	"github.com/wslfwd/wslfwd/agent-linux/tracker"
	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
)

// Status requests to a daemon that never replies keep at most maxAsks
// asks and waiters; the oldest waiters are woken, and the latest ask
// still confirms its state once the daemon acts on it.
func TestAsksToASilentDaemonAreBounded(t *testing.T) {
	var b statusBook
	var dones []<-chan struct{}
	var last *wslfwdv1.NetworkState
	const n = 10 * maxAsks
	for seq := uint64(1); seq <= n; seq++ {
		last = &wslfwdv1.NetworkState{}
		dones = append(dones, b.asked(seq, tracker.State{Network: last}))
	}
	if len(b.asks) != maxAsks || len(b.waiters) != maxAsks {
		t.Fatalf("after %d unanswered asks the book holds %d asks and %d waiters, want %d of each", n, len(b.asks), len(b.waiters), maxAsks)
	}
	for i, done := range dones {
		select {
		case <-done:
			if i >= n-maxAsks {
				t.Fatalf("waiter %d of the latest %d was woken before the daemon acted", i+1, maxAsks)
			}
		default:
			if i < n-maxAsks {
				t.Fatalf("waiter %d, past the bound, is still waiting", i+1)
			}
		}
	}
	b.ack(n)
	if b.confirmed == nil || b.confirmed.Network != last {
		t.Fatalf("acted on %d, confirmed %v, want the state of ask %d", n, b.confirmed, n)
	}
	if len(b.asks) != 0 || len(b.waiters) != 0 {
		t.Fatalf("acted on everything, %d asks and %d waiters left", len(b.asks), len(b.waiters))
	}
	for i, done := range dones {
		select {
		case <-done:
		default:
			t.Fatalf("waiter %d still waits after the daemon acted on everything", i+1)
		}
	}
}

// A peer in the daemon's place (any holder of the agent token) that names
// listeners the agent never sent cannot grow the book: past statusRoom
// they are dropped, and counted.
func TestStatusesOfUnsentListenersAreBounded(t *testing.T) {
	var b statusBook
	var sent tracker.Set // nothing sent
	dropped := 0
	for m := range 50 {
		up := &wslfwdv1.ForwardStatusUpdate{Seq: uint64(m)}
		for i := range 2000 {
			up.Statuses = append(up.Statuses, &wslfwdv1.ListenerStatus{Protocol: wslfwdv1.Protocol_PROTOCOL_TCP,
				Listen: fmt.Sprintf("a%d", m*2000+i), Port: 80})
		}
		dropped += b.record(up, sent)
	}
	if room := statusRoom(sent); len(b.statuses) > room {
		t.Fatalf("the book holds %d statuses after 100,000 of listeners never sent, want at most %d", len(b.statuses), room)
	}
	if want := 100000 - len(b.statuses); dropped != want {
		t.Errorf("dropped %d, want %d", dropped, want)
	}
}

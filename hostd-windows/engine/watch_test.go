package engine_test

import (
	"strings"
	"testing"
	"time"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/hostd-windows/daemon/daemontest"
	"github.com/wslfwd/wslfwd/hostd-windows/engine"
	"github.com/wslfwd/wslfwd/internal/waitfor"
)

// bigEvent is a forward event of about n encoded bytes.
func bigEvent(n int) *wslfwdv1.WatchResponse {
	return &wslfwdv1.WatchResponse{Event: &wslfwdv1.WatchResponse_Forward{Forward: &wslfwdv1.ForwardEvent{
		Kind:    wslfwdv1.ForwardEventKind_FORWARD_EVENT_KIND_CHANGED,
		Forward: &wslfwdv1.Forward{Reason: strings.Repeat("x", n)},
	}}}
}

func TestWatcherWithinItsBufferGetsEveryEvent(t *testing.T) {
	h := daemontest.Start(t, daemontest.Options{Backend: daemontest.NewBackend(), Grace: time.Hour})
	w, err := h.Engine().Subscribe()
	if err != nil {
		t.Fatal(err)
	}
	h.Engine().Publish(bigEvent(engine.WatcherBufferBytes / 4))
	h.Engine().Publish(bigEvent(engine.WatcherBufferBytes / 4))
	evs, ok := h.Engine().Next(w)
	if !ok || len(evs) != 2 || evs[0].GetForward() == nil {
		t.Fatalf("got %d events (ok %v), want the 2 queued", len(evs), ok)
	}
}

func TestWatcherThatFallsBehindGetsAResync(t *testing.T) {
	h := daemontest.Start(t, daemontest.Options{Backend: daemontest.NewBackend(), Grace: time.Hour})
	a := h.Connect(t, "Ubuntu")
	a.Snapshot(daemontest.TCPListener("0.0.0.0", 8080))
	w, err := h.Engine().Subscribe()
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		h.Engine().Publish(bigEvent(engine.WatcherBufferBytes / 2))
	}
	queued := h.Engine().Queued(w)
	if queued > engine.WatcherBufferBytes {
		t.Fatalf("%d bytes queued, more than WatcherBufferBytes", queued)
	}
	evs, ok := h.Engine().Next(w)
	if !ok || len(evs) == 0 || evs[0].GetResync() == nil {
		t.Fatalf("first event after falling behind: %v, want a resync marker", evs)
	}
	// Then the current state, as with initial: the agent and its forward.
	var kinds []string
	for _, e := range evs[1:] {
		if e.GetAgent() != nil {
			kinds = append(kinds, e.GetAgent().GetKind().String())
		} else {
			kinds = append(kinds, e.GetForward().GetKind().String())
		}
	}
	if strings.Join(kinds, " ") != "AGENT_EVENT_KIND_CONNECTED FORWARD_EVENT_KIND_ADDED" {
		t.Fatalf("state after the resync marker: %v", kinds)
	}
	// Later events are queued again.
	h.Engine().Publish(bigEvent(10))
	if evs, _ := h.Engine().Next(w); len(evs) != 1 || evs[0].GetResync() != nil {
		t.Fatalf("after the resync: %v, want the one new event", evs)
	}
}

// A watcher that never reads holds a bounded buffer however many events
// pass, and its stream carries on once it reads.
func TestUnreadWatchStreamResyncs(t *testing.T) {
	h := daemontest.Start(t, daemontest.Options{Backend: daemontest.NewBackend(), Grace: time.Hour})
	ch := h.Watch(t, false)
	// Far more than the client's and server's transport buffers and the
	// watcher's queue hold together.
	evs := make([]*wslfwdv1.WatchResponse, 64)
	for i := range evs {
		evs[i] = bigEvent(engine.WatcherBufferBytes / 8)
	}
	h.Engine().Publish(evs...)
	waitfor.Cond(t, 10*time.Second, "a resync marker on the stream", func() bool {
		for {
			select {
			case e, ok := <-ch:
				if !ok {
					t.Fatal("watch ended")
				}
				if e.GetResync() != nil {
					return true
				}
			default:
				return false
			}
		}
	})
}

// Agent events the registry could not keep while a step ran long (past
// its bound) reach no watcher; each is told so with a resync, the marker
// and the whole state, rather than read a story with a gap.
func TestLostAgentEventsResyncWatchers(t *testing.T) {
	b := daemontest.NewBackend()
	h := daemontest.Start(t, daemontest.Options{Backend: b, Grace: time.Hour})
	w, err := h.Engine().Subscribe()
	if err != nil {
		t.Fatal(err)
	}
	release := b.Hold()
	defer release()
	// The engine is held inside the step that adds the forward; an agent
	// that comes and goes meanwhile makes two events a round.
	h.Connect(t, "Ubuntu").SnapshotAndLeave(daemontest.TCPListener("0.0.0.0", 8080))
	for range 200 {
		h.Connect(t, "Debian").SnapshotAndLeave()
	}
	release()
	waitfor.Cond(t, 10*time.Second, "a resync marker", func() bool {
		evs, ok := h.Engine().Next(w)
		for _, e := range evs {
			if e.GetResync() != nil {
				return true
			}
		}
		return !ok
	})
}

package daemon

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
)

func TestWatchStreamsAreCapped(t *testing.T) {
	h := startHarness(t, harnessOptions{backend: newFakeBackend(), grace: time.Hour})
	// One connection per watch: a connection carries a bounded number
	// of streams.
	watch := func() (wslfwdv1.ControlService_WatchClient, error) {
		c := wslfwdv1.NewControlServiceClient(h.dial(t, h.tokens.Admin))
		return c.Watch(testCtx(t), &wslfwdv1.WatchRequest{})
	}
	for i := range MaxWatchers {
		st, err := watch()
		if err == nil {
			_, err = st.Header() // the subscription is in place
		}
		if err != nil {
			t.Fatalf("watch %d: %v", i+1, err)
		}
	}
	st, err := watch()
	if err == nil {
		_, err = st.Recv()
	}
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("watch past the cap: %v, want ResourceExhausted", err)
	}
}

// bigEvent is a forward event of about n encoded bytes.
func bigEvent(n int) *wslfwdv1.WatchResponse {
	return &wslfwdv1.WatchResponse{Event: &wslfwdv1.WatchResponse_Forward{Forward: &wslfwdv1.ForwardEvent{
		Kind:    wslfwdv1.ForwardEventKind_FORWARD_EVENT_KIND_CHANGED,
		Forward: &wslfwdv1.Forward{Reason: strings.Repeat("x", n)},
	}}}
}

func TestWatcherWithinItsBufferGetsEveryEvent(t *testing.T) {
	h := startHarness(t, harnessOptions{backend: newFakeBackend(), grace: time.Hour})
	w, _, err := h.d.subscribe(false)
	if err != nil {
		t.Fatal(err)
	}
	h.d.mu.Lock()
	h.d.publish([]*wslfwdv1.WatchResponse{bigEvent(WatcherBufferBytes / 4)})
	h.d.publish([]*wslfwdv1.WatchResponse{bigEvent(WatcherBufferBytes / 4)})
	h.d.mu.Unlock()
	evs, ok := h.d.next(w)
	if !ok || len(evs) != 2 || evs[0].GetForward() == nil {
		t.Fatalf("got %d events (ok %v), want the 2 queued", len(evs), ok)
	}
}

func TestWatcherThatFallsBehindGetsAResync(t *testing.T) {
	h := startHarness(t, harnessOptions{backend: newFakeBackend(), grace: time.Hour})
	a := h.connect(t, "Ubuntu")
	a.snapshot(tcpListener("0.0.0.0", 8080))
	w, _, err := h.d.subscribe(false)
	if err != nil {
		t.Fatal(err)
	}
	h.d.mu.Lock()
	for range 3 {
		h.d.publish([]*wslfwdv1.WatchResponse{bigEvent(WatcherBufferBytes / 2)})
	}
	queued := w.bytes
	h.d.mu.Unlock()
	if queued > WatcherBufferBytes {
		t.Fatalf("%d bytes queued, more than WatcherBufferBytes", queued)
	}
	evs, ok := h.d.next(w)
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
	h.d.mu.Lock()
	h.d.publish([]*wslfwdv1.WatchResponse{bigEvent(10)})
	h.d.mu.Unlock()
	if evs, _ := h.d.next(w); len(evs) != 1 || evs[0].GetResync() != nil {
		t.Fatalf("after the resync: %v, want the one new event", evs)
	}
}

// A watcher that never reads holds a bounded buffer however many events
// pass, and its stream carries on once it reads.
func TestUnreadWatchStreamResyncs(t *testing.T) {
	h := startHarness(t, harnessOptions{backend: newFakeBackend(), grace: time.Hour})
	ch := h.watch(t, false)
	h.d.mu.Lock()
	// Far more than the client's and server's transport buffers and the
	// watcher's queue hold together.
	for range 64 {
		h.d.publish([]*wslfwdv1.WatchResponse{bigEvent(WatcherBufferBytes / 8)})
	}
	h.d.mu.Unlock()
	waitFor(t, "a resync marker on the stream", func() bool {
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

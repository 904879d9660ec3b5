package ebpftrigger

import (
	"context"
	"testing"
	"time"
)

// coalescer runs coalesce with windows the test ends by hand, so the test
// decides exactly when time passes.
type coalescer struct {
	activity chan struct{}
	ends     chan time.Time
	wakes    chan struct{}
	cancel   context.CancelFunc
	done     chan struct{}
}

func startCoalescer(t *testing.T) *coalescer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	c := &coalescer{
		activity: make(chan struct{}, 1),
		ends:     make(chan time.Time),
		wakes:    make(chan struct{}, 100),
		cancel:   cancel,
		done:     make(chan struct{}),
	}
	go func() {
		defer close(c.done)
		coalesce(ctx, c.activity, func() <-chan time.Time { return c.ends },
			func() { c.wakes <- struct{}{} })
	}()
	t.Cleanup(c.stop)
	return c
}

// signal sends activity the way the ring buffer reader does: without
// blocking, merging into a pending signal.
func (c *coalescer) signal() {
	select {
	case c.activity <- struct{}{}:
	default:
	}
}

func (c *coalescer) endWindow(t *testing.T) {
	t.Helper()
	select {
	case c.ends <- time.Time{}:
	case <-time.After(5 * time.Second):
		t.Fatal("coalesce did not open a window")
	}
}

func (c *coalescer) expectWake(t *testing.T, what string) {
	t.Helper()
	select {
	case <-c.wakes:
	case <-time.After(5 * time.Second):
		t.Fatalf("no wake: %s", what)
	}
}

// stop cancels coalesce and waits for it to return.
func (c *coalescer) stop() {
	c.cancel()
	<-c.done
}

// stopAndCountExtra stops coalesce and returns how many wakes the test has
// not collected.
func (c *coalescer) stopAndCountExtra(t *testing.T) int {
	t.Helper()
	c.stop()
	return len(c.wakes)
}

func TestCoalesceLoneEventWakesNowAndOnceMore(t *testing.T) {
	c := startCoalescer(t)
	c.signal()
	c.expectWake(t, "first event must wake at once, before any window ends")
	c.endWindow(t)
	c.expectWake(t, "the window after an event must end with a settling wake")
	// Quiet now: no window may be open and no further wake may come.
	select {
	case c.ends <- time.Time{}:
		t.Fatal("a window was open although nothing happened")
	default:
	}
	if n := c.stopAndCountExtra(t); n != 0 {
		t.Fatalf("%d wakes after the settling wake, want 0", n)
	}
}

func TestCoalesceBurstWakesOncePerWindow(t *testing.T) {
	c := startCoalescer(t)
	c.signal()
	c.expectWake(t, "first event")
	for range 1000 {
		c.signal()
	}
	c.endWindow(t)
	c.expectWake(t, "end of the busy window")
	for range 1000 {
		c.signal()
	}
	c.endWindow(t)
	c.expectWake(t, "end of the second busy window")
	c.endWindow(t)
	c.expectWake(t, "settling wake after the burst")
	if n := c.stopAndCountExtra(t); n != 0 {
		t.Fatalf("3000 events in 2 windows woke %d times more than 4", n)
	}
}

func TestCoalesceNewBurstAfterQuietWakesAtOnce(t *testing.T) {
	c := startCoalescer(t)
	c.signal()
	c.expectWake(t, "first event")
	c.endWindow(t)
	c.expectWake(t, "settling wake")
	c.signal()
	c.expectWake(t, "an event after a quiet spell must wake at once")
}

func TestCoalesceStopsInsideWindow(t *testing.T) {
	c := startCoalescer(t)
	c.signal()
	c.expectWake(t, "first event")
	done := make(chan struct{})
	go func() { c.stop(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("coalesce ignored cancellation while a window was open")
	}
}

func TestTimerWindowEnds(t *testing.T) {
	windowEnd, stop := timerWindow(time.Millisecond)
	defer stop()
	for i := range 3 {
		select {
		case <-windowEnd():
		case <-time.After(5 * time.Second):
			t.Fatalf("window %d never ended", i)
		}
	}
}

package ebpftrigger

import (
	"context"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

const testWindow = 8 * time.Millisecond

// coalescer runs coalesce with the production timer inside a synctest
// bubble: time is fake, so time.Sleep below moves the clock exactly and
// synctest.Wait returns once coalesce is blocked, which makes every count
// deterministic.
type coalescer struct {
	activity chan struct{}
	wakes    atomic.Int64
	cancel   context.CancelFunc
	done     chan struct{}
}

func startCoalescer(t *testing.T) *coalescer {
	ctx, cancel := context.WithCancel(t.Context())
	c := &coalescer{activity: make(chan struct{}, 1), cancel: cancel, done: make(chan struct{})}
	windowEnd, stop := timerWindow(testWindow)
	go func() {
		defer close(c.done)
		defer stop()
		coalesce(ctx, c.activity, windowEnd, func() { c.wakes.Add(1) })
	}()
	t.Cleanup(func() { cancel(); <-c.done })
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

func (c *coalescer) expectWakes(t *testing.T, want int64, when string) {
	t.Helper()
	synctest.Wait()
	if got := c.wakes.Load(); got != want {
		t.Fatalf("%s: %d wakes, want %d", when, got, want)
	}
}

func TestCoalesceLoneEventWakesNowAndOnceMore(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := startCoalescer(t)
		c.signal()
		c.expectWakes(t, 1, "at the event, before any time passes")
		time.Sleep(testWindow - time.Millisecond)
		c.expectWakes(t, 1, "inside the window")
		time.Sleep(time.Millisecond)
		c.expectWakes(t, 2, "when the window ends (settling wake)")
		time.Sleep(100 * testWindow)
		c.expectWakes(t, 2, "long after, with nothing happening")
	})
}

func TestCoalesceBurstWakesOncePerWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := startCoalescer(t)
		c.signal() // t=0
		c.expectWakes(t, 1, "first event")
		// Events at t=1,3,...,23 ms: busy windows end at 8, 16 and 24 ms,
		// the quiet one at 32 ms.
		time.Sleep(time.Millisecond)
		for range 12 {
			for range 100 {
				c.signal()
			}
			time.Sleep(2 * time.Millisecond)
		}
		time.Sleep(32*time.Millisecond - 25*time.Millisecond)
		c.expectWakes(t, 5, "1200 events over three windows")
		time.Sleep(100 * testWindow)
		c.expectWakes(t, 5, "after the burst")
	})
}

func TestCoalesceNewEventAfterQuietWakesAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := startCoalescer(t)
		c.signal()
		time.Sleep(testWindow)
		c.expectWakes(t, 2, "lone event")
		c.signal()
		c.expectWakes(t, 3, "a new event after a quiet spell, before any time passes")
	})
}

func TestCoalesceStopsInsideWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := startCoalescer(t)
		c.signal()
		c.expectWakes(t, 1, "first event")
		c.cancel()
		synctest.Wait()
		select {
		case <-c.done:
		default:
			t.Fatal("coalesce ignored cancellation while a window was open")
		}
		c.expectWakes(t, 1, "after cancellation")
	})
}

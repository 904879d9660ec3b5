package ebpftrigger

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

const testWindow = 8 * time.Millisecond

var errStopped = errors.New("stopped")

// coalescer runs coalesce on a fake event source inside a synctest
// bubble: time is fake, so time.Sleep below moves the clock exactly and
// synctest.Wait returns once coalesce is blocked, which makes every count
// deterministic.
type coalescer struct {
	events chan struct{}
	wakes  atomic.Int64
	cancel context.CancelFunc
	done   chan error
}

func startCoalescer(t *testing.T) *coalescer {
	ctx, cancel := context.WithCancel(t.Context())
	c := &coalescer{events: make(chan struct{}, 10000), cancel: cancel, done: make(chan error, 1)}
	next := func(deadline time.Time) (bool, error) {
		var timeout <-chan time.Time
		if !deadline.IsZero() {
			timeout = time.After(time.Until(deadline))
		}
		select {
		case <-c.events:
			return true, nil
		case <-timeout:
			return false, nil
		case <-ctx.Done():
			return false, errStopped
		}
	}
	go func() { c.done <- coalesce(next, testWindow, func() { c.wakes.Add(1) }) }()
	t.Cleanup(func() { cancel(); <-c.done })
	return c
}

func (c *coalescer) event() { c.events <- struct{}{} }

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
		c.event()
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
		c.event() // t=0
		c.expectWakes(t, 1, "first event")
		// Events at t=1,3,...,23 ms: busy windows end at 8, 16 and 24 ms,
		// the quiet one at 32 ms.
		time.Sleep(time.Millisecond)
		for range 12 {
			for range 100 {
				c.event()
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
		c.event()
		time.Sleep(testWindow)
		c.expectWakes(t, 2, "lone event")
		c.event()
		c.expectWakes(t, 3, "a new event after a quiet spell, before any time passes")
	})
}

func TestCoalesceReturnsSourceError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := startCoalescer(t)
		c.event()
		c.expectWakes(t, 1, "first event")
		c.cancel() // inside the window
		synctest.Wait()
		select {
		case err := <-c.done:
			if !errors.Is(err, errStopped) {
				t.Fatalf("coalesce returned %v, want the source's error", err)
			}
			c.done <- err // for the cleanup
		default:
			t.Fatal("coalesce kept running after its source failed")
		}
		c.expectWakes(t, 1, "after the source failed")
	})
}

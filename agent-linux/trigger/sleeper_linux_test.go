//go:build linux

package trigger_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/wslfwd/wslfwd/agent-linux/trigger"
)

// A Timerfd sleeps at least as long as asked, again and again, and
// returns early, with the context's error, once the context is done.
func TestTimerfdSleeps(t *testing.T) {
	tf, err := trigger.NewTimerfd()
	if err != nil {
		t.Fatal(err)
	}
	defer tf.Close()
	for _, d := range []time.Duration{0, time.Millisecond, 5 * time.Millisecond} {
		start := time.Now()
		if err := tf.Sleep(context.Background(), d); err != nil {
			t.Fatalf("Sleep(%v): %v", d, err)
		}
		if took := time.Since(start); took < d {
			t.Errorf("Sleep(%v) returned after %v", d, took)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- tf.Sleep(ctx, time.Hour) }()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Sleep after cancel: %v, want context.Canceled", err)
	}
}

// Paced uses a timerfd by default, one of its own per Run: two
// run side by side (the narrow triggers of both protocols do) and both
// keep waking.
func TestPacedOnTimerfdSideBySide(t *testing.T) {
	p := trigger.Paced{Min: time.Millisecond, Max: time.Millisecond, Budget: 1, Cost: func() time.Duration { return 0 }}
	ctx, cancel := context.WithCancel(context.Background())
	wakes := make(chan int, 64)
	errs := make(chan error, 2)
	for i := range 2 {
		go func() {
			errs <- p.Run(ctx, func() {
				select {
				case wakes <- i:
				default: // the test has seen enough
				}
			})
		}()
	}
	seen := [2]int{}
	stuck := time.After(time.Minute) // a hang guard, not a timing: they wake every millisecond
	for seen[0] < 3 || seen[1] < 3 {
		select {
		case i := <-wakes:
			seen[i]++
		case <-stuck:
			t.Fatalf("the two Runs stopped waking: %d and %d wakes", seen[0], seen[1])
		}
	}
	cancel()
	for range 2 {
		if err := <-errs; err != nil {
			t.Errorf("Run after cancel: %v, want nil", err)
		}
	}
}

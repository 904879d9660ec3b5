package trigger_test

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/wslfwd/wslfwd/agent-linux/trigger"
)

func TestTickerWakesUntilCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	woke := make(chan struct{}, 1)
	done := make(chan error, 1)
	go func() {
		done <- trigger.Ticker{Interval: time.Millisecond}.Run(ctx, func() {
			select {
			case woke <- struct{}{}:
			default:
			}
		})
	}()
	for range 3 {
		select {
		case <-woke:
		case <-time.After(5 * time.Second):
			t.Fatal("ticker did not wake")
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run after cancel: %v", err)
	}
}

func TestTickerRejectsZeroInterval(t *testing.T) {
	if err := (trigger.Ticker{}).Run(context.Background(), func() {}); err == nil {
		t.Error("a zero interval was accepted")
	}
}

func TestPacedWaitKeepsToBudget(t *testing.T) {
	p := trigger.Paced{Min: 250 * time.Millisecond, Max: 4 * time.Second, Budget: 0.002}
	for _, tc := range []struct{ cost, want time.Duration }{
		{0, 250 * time.Millisecond},                      // before the first scan
		{400 * time.Microsecond, 250 * time.Millisecond}, // cheap: Min
		{2 * time.Millisecond, time.Second},              // a thousand listeners: 0.2 %
		{time.Second, 4 * time.Second},                   // never slower than Max
	} {
		if got := p.Wait(tc.cost); got != tc.want {
			t.Errorf("Wait(%v) = %v, want %v", tc.cost, got, tc.want)
		}
	}
}

// The wait after each scan follows what that scan cost.
func TestPacedRunFollowsCost(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var cost atomic.Int64
		p := trigger.Paced{Min: 100 * time.Millisecond, Max: 10 * time.Second, Budget: 0.01,
			Cost: func() time.Duration { return time.Duration(cost.Load()) }, Sleeper: trigger.GoTimers{}}
		ctx, cancel := context.WithCancel(t.Context())
		var wakes []time.Duration
		start := time.Now()
		done := make(chan error)
		go func() {
			done <- p.Run(ctx, func() {
				wakes = append(wakes, time.Since(start))
				cost.Store(int64(time.Duration(len(wakes)) * 10 * time.Millisecond))
			})
		}()
		time.Sleep(10 * time.Second)
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		// Costs 10, 20, 30 ms at 1 %: waits of 1, 2, 3 s after the first
		// wake at Min.
		want := []time.Duration{100 * time.Millisecond, 1100 * time.Millisecond, 3100 * time.Millisecond, 6100 * time.Millisecond}
		if !slices.Equal(wakes, want) {
			t.Errorf("wakes at %v, want %v", wakes, want)
		}
	})
}

func TestPacedRejectsBadSettings(t *testing.T) {
	if err := (trigger.Paced{Min: time.Second, Max: time.Millisecond, Budget: 1, Cost: func() time.Duration { return 0 }}).Run(context.Background(), func() {}); err == nil {
		t.Error("Max < Min was accepted")
	}
}

// An alarm wakes once at the time it was last set to, at once for a time
// gone by, and not at all before it is set.
func TestAlarm(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := trigger.NewAlarm()
		ctx, cancel := context.WithCancel(t.Context())
		var wakes []time.Duration
		start := time.Now()
		done := make(chan error)
		go func() {
			done <- a.Run(ctx, func() { wakes = append(wakes, time.Since(start)) })
		}()
		time.Sleep(time.Second)
		a.Set(start.Add(5 * time.Second))
		a.Set(start.Add(3 * time.Second)) // replaces the first
		time.Sleep(9 * time.Second)
		a.Set(start) // gone by
		synctest.Wait()
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if want := []time.Duration{3 * time.Second, 10 * time.Second}; !slices.Equal(wakes, want) {
			t.Errorf("woke at %v, want %v", wakes, want)
		}
	})
}

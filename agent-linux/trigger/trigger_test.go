package trigger_test

import (
	"context"
	"testing"
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

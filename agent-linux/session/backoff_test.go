package session

import (
	"testing"
	"time"
)

// Waits grow to the cap, are never above the current bound, and start
// over after reset.
func TestBackoffGrowsToTheCapAndResets(t *testing.T) {
	b := backoff{min: 100 * time.Millisecond, max: time.Second}
	for i, bound := range []time.Duration{100, 200, 400, 800, 1000, 1000} {
		bound *= time.Millisecond
		for range 50 {
			b.failures = i
			if w := b.next(); w <= 0 || w > bound+time.Millisecond {
				t.Fatalf("attempt %d: wait %v, want within (0, %v]", i, w, bound)
			}
		}
	}
	b.reset()
	if w := b.next(); w > 101*time.Millisecond {
		t.Fatalf("after reset: wait %v, want at most the shortest bound", w)
	}
}

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

// A stream the daemon ends soon after its welcome (a refused snapshot)
// does not start the backoff afresh; one it kept for a while does.
func TestOnlyAStreamKeptAWhileWasHealthy(t *testing.T) {
	now := time.Now()
	for _, c := range []struct {
		welcomed time.Time
		want     bool
	}{
		{time.Time{}, false},
		{now.Add(-50 * time.Millisecond), false},
		{now.Add(-healthyAfter + time.Millisecond), false},
		{now.Add(-healthyAfter), true},
		{now.Add(-time.Hour), true},
	} {
		s := &stream{welcomed: c.welcomed}
		if got := s.healthy(now); got != c.want {
			t.Errorf("welcomed %v before the end: healthy %v, want %v", now.Sub(c.welcomed), got, c.want)
		}
	}
}

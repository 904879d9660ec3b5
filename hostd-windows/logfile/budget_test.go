package logfile

import (
	"testing"
	"time"
)

// A budget lets max lines through per window, holds back the rest, and
// hands the count to the first line of the next window.
func TestBudget(t *testing.T) {
	b := NewBudget(time.Minute, 3)
	now := time.Unix(1000, 0)
	written := 0
	for range 100 {
		if ok, _ := b.Take(now); ok {
			written++
		}
		now = now.Add(time.Millisecond)
	}
	if written != 3 {
		t.Fatalf("%d lines in a window, want 3", written)
	}
	ok, held := b.Take(now.Add(time.Minute))
	if !ok || held != 97 {
		t.Fatalf("next window's first line: %v, %d held back; want written, 97", ok, held)
	}
}

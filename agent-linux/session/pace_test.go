package session

import (
	"testing"
	"time"
)

// A burst of paceBurst requests goes at once; each one past it waits a
// turn more (1/paceRate), and turns come back with time.
func TestPace(t *testing.T) {
	var p pace
	t0 := time.Unix(1000, 0)
	for i := range paceBurst {
		if d := p.take(t0); d != 0 {
			t.Fatalf("request %d of the burst waits %v", i+1, d)
		}
	}
	turn := time.Second / paceRate
	for i := 1; i <= 5; i++ {
		if d := p.take(t0); d != time.Duration(i)*turn {
			t.Fatalf("request %d past the burst waits %v, want %v", i, d, time.Duration(i)*turn)
		}
	}
	// Ten seconds later the requests waited for have had their turns and
	// the burst is whole again.
	later := t0.Add(10 * time.Second)
	for i := range paceBurst {
		if d := p.take(later); d != 0 {
			t.Fatalf("request %d of the burst 10 s later waits %v", i+1, d)
		}
	}
	if d := p.take(later); d != turn {
		t.Fatalf("the request past the new burst waits %v, want %v", d, turn)
	}
}

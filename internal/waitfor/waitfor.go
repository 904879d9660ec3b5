// Package waitfor lets tests wait for a condition that another goroutine
// or process makes true, by polling it, instead of sleeping for a guess.
package waitfor

import (
	"testing"
	"time"
)

// Cond polls cond until it holds, first often and then every 20 ms at
// most, and fails the test, naming what, if it does not hold within d.
func Cond(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	pause := time.Millisecond
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(pause)
		pause = min(2*pause, 20*time.Millisecond)
	}
}

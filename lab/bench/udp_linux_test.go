//go:build linux

package bench

import (
	"testing"
	"time"
)

func TestFlightCountsAwaitedEchoesOnceAndExpiresTheRest(t *testing.T) {
	f := newFlight()
	t0 := time.Unix(1000, 0)
	a := f.send(t0)
	b := f.send(t0.Add(10 * time.Millisecond))
	f.send(t0.Add(20 * time.Millisecond))
	if !f.echoed(b) {
		t.Fatal("an awaited datagram's echo did not count")
	}
	if f.echoed(b) || f.echoed(0) {
		t.Error("an echo counted twice, or the first echo's (sequence 0) counted")
	}
	f.expire(t0.Add(udpWait)) // a is udpWait old; the third is not yet
	if f.lost != 1 || f.len() != 1 {
		t.Errorf("after expiry: %d lost, %d awaited; want 1 and 1", f.lost, f.len())
	}
	if got, want := f.oldest(), t0.Add(20*time.Millisecond); !got.Equal(want) {
		t.Errorf("oldest = %v, want %v", got, want)
	}
	if f.echoed(a) {
		t.Error("a late echo of a datagram taken as lost counted")
	}
}

//go:build linux

package ebpftrigger

import (
	"net/netip"
	"testing"
	"time"

	"github.com/wslfwd/wslfwd/agent-linux/trigger"
)

func TestRechecksDueOneWindowAfterArrival(t *testing.T) {
	r := rechecks{window: 2 * time.Millisecond}
	t0 := time.Unix(100, 0)
	if !r.next().IsZero() {
		t.Fatal("empty rechecks have a due time")
	}
	udp := trigger.Event{Kind: trigger.Closed, Protocol: ipprotoUDP, Family: 2}
	tcp := trigger.Event{Kind: trigger.Opened, Protocol: ipprotoTCP, PID: 7}
	r.add(udp, t0)
	r.add(tcp, t0.Add(time.Millisecond))
	if got, want := r.next(), t0.Add(2*time.Millisecond); !got.Equal(want) {
		t.Fatalf("next = %v, want %v", got, want)
	}
	if got := r.due(t0.Add(time.Millisecond), nil); len(got) != 0 {
		t.Fatalf("due before the window ended: %v", got)
	}
	got := r.due(t0.Add(2*time.Millisecond), nil)
	if len(got) != 1 || got[0] != udp {
		t.Fatalf("due at the first window's end = %v, want [%v]", got, udp)
	}
	if got, want := r.next(), t0.Add(3*time.Millisecond); !got.Equal(want) {
		t.Fatalf("next after the first = %v, want %v", got, want)
	}
	got = r.due(t0.Add(10*time.Millisecond), got[:0])
	if len(got) != 1 || got[0] != tcp {
		t.Fatalf("due later = %v, want [%v]", got, tcp)
	}
	if !r.next().IsZero() {
		t.Fatal("rechecks left after all were due")
	}
}

// A burst of events that would prompt the same re-read is handed over
// again once, a window after the last of them.
func TestRechecksMergeSameReread(t *testing.T) {
	r := rechecks{window: 2 * time.Millisecond}
	t0 := time.Unix(100, 0)
	ev := trigger.Event{Kind: trigger.Closed, Protocol: ipprotoUDP, Family: 10}
	for i := range 100 {
		r.add(ev, t0.Add(time.Duration(i)*time.Microsecond))
	}
	other := ev
	other.Family = 2
	r.add(other, t0)
	last := t0.Add(99 * time.Microsecond)
	if got := r.due(t0.Add(2*time.Millisecond), nil); len(got) != 1 || got[0] != other {
		t.Fatalf("due before the merged one = %v, want [%v]", got, other)
	}
	if got := r.due(last.Add(2*time.Millisecond-time.Nanosecond), nil); len(got) != 0 {
		t.Fatalf("merged recheck due before a window after the last event: %v", got)
	}
	if got := r.due(last.Add(2*time.Millisecond), nil); len(got) != 1 || got[0] != ev {
		t.Fatalf("merged recheck = %v, want one %v", got, ev)
	}
}

func TestEarlyEvents(t *testing.T) {
	whole := trigger.Event{Kind: trigger.Opened, Protocol: ipprotoTCP, Family: 2, Port: 80,
		Addr: netip.MustParseAddr("0.0.0.0"), Inode: 5}
	for _, tc := range []struct {
		ev    trigger.Event
		early bool
	}{
		{whole, false},
		{trigger.Event{Kind: trigger.Opened, Protocol: ipprotoTCP}, true}, // no kernel BTF
		{trigger.Event{Kind: trigger.Closed, Protocol: ipprotoTCP, Family: 2, Port: 80}, true},
		{trigger.Event{Kind: trigger.Opened, Protocol: ipprotoUDP, Family: 2, Port: 53}, false},
		{trigger.Event{Kind: trigger.Closed, Protocol: ipprotoUDP, Family: 2}, true},
	} {
		if got := early(tc.ev); got != tc.early {
			t.Errorf("early(%+v) = %v, want %v", tc.ev, got, tc.early)
		}
	}
}

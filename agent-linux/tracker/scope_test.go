package tracker

import (
	"slices"
	"testing"

	"github.com/wslfwd/wslfwd/agent-linux/trigger"
	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
)

// Events of one port read it once; the scope names the process that
// changed it only while every event there came from that one.
func TestAddScopeNamesOneProcessOnly(t *testing.T) {
	udp := wslfwdv1.Protocol_PROTOCOL_UDP
	v4 := wslfwdv1.AddressFamily_ADDRESS_FAMILY_IPV4
	at := func(port, pid uint32) Scope { return Scope{Protocol: udp, Family: v4, Port: port, PID: pid} }
	ss := addScope(nil, at(53, 100))
	ss = addScope(ss, at(53, 100))
	if !slices.Equal(ss, []Scope{at(53, 100)}) {
		t.Fatalf("two events of one process: %v, want one scope naming it", ss)
	}
	ss = addScope(ss, at(53, 200))
	ss = addScope(ss, at(5353, 300))
	if want := []Scope{at(53, 0), at(5353, 300)}; !slices.Equal(ss, want) {
		t.Fatalf("events of two processes on 53: %v, want %v", ss, want)
	}
}

// Only the process that opened a socket may be taken for the owner of a
// socket a re-read finds new: a process that closed one (any user may
// close a UDP socket it never bound, and the kernel reports it) is not.
func TestOnlyOpenedNamesAnOwner(t *testing.T) {
	ev := trigger.Event{Protocol: 17, Family: 2, PID: 77}
	for kind, want := range map[trigger.Kind]uint32{trigger.Opened: 77, trigger.Closed: 0, trigger.Lost: 0} {
		ev.Kind = kind
		if got := scopeOf(ev).PID; got != want {
			t.Errorf("kind %d: scope names pid %d, want %d", kind, got, want)
		}
	}
}

package agents

import (
	"testing"
	"time"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
)

// Each listener keeps the time the message that brought it arrived:
// through later changes, an update of the same listener and a new
// session's snapshot; a listener closed and opened again (in one message
// or two) arrives anew. Refusals are
// counted by code.
func TestArrivedAndRefusedCounts(t *testing.T) {
	now := time.Unix(1000, 0)
	refused := map[string]int{}
	r, _ := newReg(t, Options{Now: func() time.Time { return now }, Refused: func(c string) { refused[c]++ }})
	arrived := func(port uint32) time.Time {
		t.Helper()
		as, _, _ := r.State()
		for _, l := range as[0].Listeners {
			if l.GetPort() == port {
				at, _ := arrivedAt(as[0], l)
				return at
			}
		}
		t.Fatalf("no listener on port %d", port)
		return time.Time{}
	}
	s := open(t, r, "Ubuntu", agentAddr)
	apply := func(s *Session, m *wslfwdv1.AgentMessage) {
		t.Helper()
		if err := r.Apply(s, m); err != nil {
			t.Fatal(err)
		}
	}
	t0 := now
	apply(s, snapshot(1, network("172.28.240.53"), listener("0.0.0.0", 80)))
	now = now.Add(time.Second)
	updated := listener("0.0.0.0", 80)
	updated.ProcessName = "nginx"
	apply(s, changes(2, []*wslfwdv1.Listener{listener("0.0.0.0", 443), updated}, nil))
	if arrived(80) != t0 || arrived(443) != now {
		t.Errorf("arrived 80 at %v, 443 at %v; want %v and %v", arrived(80), arrived(443), t0, now)
	}
	now = now.Add(time.Second)
	s2 := open(t, r, "Ubuntu", agentAddr) // the agent restarted
	apply(s2, snapshot(1, network("172.28.240.53"), listener("0.0.0.0", 80), listener("0.0.0.0", 8080)))
	if arrived(80) != t0 || arrived(8080) != now {
		t.Errorf("after a new session: 80 at %v, 8080 at %v; want %v and %v", arrived(80), arrived(8080), t0, now)
	}
	now = now.Add(time.Second)
	apply(s2, changes(2, []*wslfwdv1.Listener{listener("0.0.0.0", 80)}, []*wslfwdv1.Listener{listener("0.0.0.0", 80)}))
	if arrived(80) != now {
		t.Errorf("closed and opened again in one message: 80 at %v, want %v", arrived(80), now)
	}
	apply(s2, changes(3, nil, []*wslfwdv1.Listener{listener("0.0.0.0", 80)}))
	now = now.Add(time.Second)
	apply(s2, changes(4, []*wslfwdv1.Listener{listener("0.0.0.0", 80)}, nil))
	if arrived(80) != now {
		t.Errorf("reopened: 80 at %v, want %v", arrived(80), now)
	}
	if err := r.Apply(s2, snapshot(0, nil)); err == nil || refused["InvalidArgument"] != 1 || len(refused) != 1 {
		t.Errorf("err %v, refused %v; want one InvalidArgument", err, refused)
	}
}

// arrivedAt asks ArrivedAt for one listener of a.
func arrivedAt(a Agent, l *wslfwdv1.Listener) (time.Time, bool) {
	q := []Arrival{{Agent: a, Listener: l}}
	ArrivedAt(q)
	return q[0].At, q[0].Found
}

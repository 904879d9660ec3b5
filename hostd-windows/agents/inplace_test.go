package agents

import (
	"slices"
	"testing"

	"google.golang.org/grpc/codes"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
)

// Changes are applied in place, so a change refused for any reason must
// leave nothing of itself behind: not the additions or removals before
// the part that failed.
func TestRefusedChangeLeavesStateWhole(t *testing.T) {
	ls := func(ports ...uint32) []*wslfwdv1.Listener {
		var out []*wslfwdv1.Listener
		for _, p := range ports {
			out = append(out, listener("0.0.0.0", p))
		}
		return out
	}
	bad := &wslfwdv1.Listener{Protocol: tcp, Family: ipv4, Listen: "0.0.0", Port: 5}
	for name, tc := range map[string]struct {
		added, removed []*wslfwdv1.Listener
		code           codes.Code // OK: refused with a resync instead
	}{
		"unknown removal after a known one": {ls(4), ls(1, 9), codes.OK},
		"the same removal twice":            {nil, ls(2, 2), codes.OK},
		"invalid addition after valid ones": {append(ls(4), bad), ls(1), codes.InvalidArgument},
		"over the limit":                    {ls(4, 5), nil, codes.InvalidArgument},
	} {
		t.Run(name, func(t *testing.T) {
			r, _ := newReg(t, Options{MaxListeners: 4})
			s := open(t, r, "Ubuntu", agentAddr)
			if err := r.Apply(s, snapshot(1, network("172.28.240.53"), ls(1, 2, 3)...)); err != nil {
				t.Fatal(err)
			}
			before, _, _ := r.State()
			err := r.Apply(s, changes(2, tc.added, tc.removed))
			if tc.code == codes.OK {
				if err != nil || resyncs(outbox(s)) != 1 {
					t.Fatalf("err %v; want a resync request and no error", err)
				}
			} else {
				wantCode(t, err, tc.code)
			}
			after, _, _ := r.State()
			if got := listenerPorts(t, r, "Ubuntu"); !slices.Equal(got, []uint32{1, 2, 3}) {
				t.Errorf("listeners = %v, want [1 2 3]", got)
			}
			if !slices.Equal(after[0].Listeners, before[0].Listeners) {
				t.Errorf("sorted listeners changed by a refused change")
			}
			for _, l := range after[0].Listeners {
				if _, ok := arrivedAt(after[0], l); !ok {
					t.Errorf("port %d lost its arrival time", l.GetPort())
				}
			}
		})
	}
}

// The limit counts what a change leaves: an update of a listener held, or
// one closed and opened again in the same message, adds none.
func TestLimitCountsWhatAChangeLeaves(t *testing.T) {
	r, _ := newReg(t, Options{MaxListeners: 3})
	s := open(t, r, "Ubuntu", agentAddr)
	if err := r.Apply(s, snapshot(1, network("172.28.240.53"), listener("0.0.0.0", 1), listener("0.0.0.0", 2))); err != nil {
		t.Fatal(err)
	}
	one := []*wslfwdv1.Listener{listener("0.0.0.0", 1)}
	steps := []*wslfwdv1.AgentMessage{
		changes(2, one, nil), // an update
		changes(3, one, one), // closed and opened again
		changes(4, []*wslfwdv1.Listener{listener("0.0.0.0", 3)}, nil),
	}
	for _, m := range steps {
		if err := r.Apply(s, m); err != nil {
			t.Fatal(err)
		}
	}
	if got := listenerPorts(t, r, "Ubuntu"); !slices.Equal(got, []uint32{1, 2, 3}) {
		t.Fatalf("listeners = %v, want [1 2 3]", got)
	}
	if as, _, _ := r.State(); len(as[0].Listeners) != 3 {
		t.Fatalf("%d sorted listeners, want 3", len(as[0].Listeners))
	}
}

// The engine reads the listeners State handed out without the lock: later
// changes must not change them under it.
func TestStateListenersStayAsHandedOut(t *testing.T) {
	r, _ := newReg(t, Options{})
	s := open(t, r, "Ubuntu", agentAddr)
	if err := r.Apply(s, snapshot(1, network("172.28.240.53"), listener("0.0.0.0", 1), listener("0.0.0.0", 3))); err != nil {
		t.Fatal(err)
	}
	as, _, _ := r.State()
	held := as[0].Listeners
	kept := slices.Clone(held)
	seq := uint64(1)
	for _, m := range [][2][]*wslfwdv1.Listener{
		{{listener("0.0.0.0", 2)}, nil},
		{nil, {listener("0.0.0.0", 1)}},
		{{listener("0.0.0.0", 4)}, {listener("0.0.0.0", 3)}},
	} {
		seq++
		if err := r.Apply(s, changes(seq, m[0], m[1])); err != nil {
			t.Fatal(err)
		}
	}
	if !slices.Equal(held, kept) {
		t.Fatalf("the listeners handed out changed: %v, were %v", held, kept)
	}
	as, _, _ = r.State()
	var ports []uint32
	for _, l := range as[0].Listeners {
		ports = append(ports, l.GetPort())
	}
	if !slices.Equal(ports, []uint32{2, 4}) {
		t.Fatalf("listeners now %v, want [2 4]", ports)
	}
}

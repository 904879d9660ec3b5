package agents

import (
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	protobuf "google.golang.org/protobuf/proto"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/hostd-windows/wire"
	"github.com/wslfwd/wslfwd/internal/netstate"
)

// A listener listed twice in a snapshot or added twice in one change is
// refused, and changes nothing: repeats would cost the registry a pass
// over the agent's listeners each, under its lock, while the limit
// counted them once.
func TestRepeatedListenersAreRefused(t *testing.T) {
	r, _ := newReg(t, Options{MaxListeners: 8})
	s := open(t, r, "Ubuntu", agentAddr)
	twice := snapshot(1, network("172.28.240.53"), listener("0.0.0.0", 1), listener("0.0.0.0", 1))
	if err := r.Apply(s, twice); status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "listed twice") {
		t.Fatalf("a snapshot listing a listener twice: %v, want InvalidArgument", err)
	}
	s = open(t, r, "Ubuntu", agentAddr)
	if err := r.Apply(s, snapshot(1, network("172.28.240.53"), listener("0.0.0.0", 1))); err != nil {
		t.Fatal(err)
	}
	two := []*wslfwdv1.Listener{listener("0.0.0.0", 2), listener("0.0.0.0", 2)}
	if err := r.Apply(s, changes(2, two, nil)); status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "twice") {
		t.Fatalf("a change adding a listener twice: %v, want InvalidArgument", err)
	}
	if got := listenerPorts(t, r, "Ubuntu"); !slices.Equal(got, []uint32{1}) {
		t.Fatalf("listeners after the refusal = %v, want [1]", got)
	}
}

// Lists longer than the listener limit are refused whatever they hold,
// before any of it is looked at: a snapshot of one listener repeated past
// the limit, and a change that adds or removes more than the limit.
func TestListsPastTheLimitAreRefused(t *testing.T) {
	const max = 4
	r, _ := newReg(t, Options{MaxListeners: max})
	s := open(t, r, "Ubuntu", agentAddr)
	many := slices.Repeat([]*wslfwdv1.Listener{listener("0.0.0.0", 1)}, max+1)
	if err := r.Apply(s, snapshot(1, network("172.28.240.53"), many...)); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("a snapshot of %d entries: %v, want InvalidArgument", max+1, err)
	}
	s = open(t, r, "Ubuntu", agentAddr)
	if err := r.Apply(s, snapshot(1, network("172.28.240.53"), listener("0.0.0.0", 1))); err != nil {
		t.Fatal(err)
	}
	var five []*wslfwdv1.Listener
	for p := range uint32(max + 1) {
		five = append(five, listener("0.0.0.0", 100+p))
	}
	for name, m := range map[string]*wslfwdv1.AgentMessage{"added": changes(2, five, nil), "removed": changes(2, nil, five)} {
		if err := r.Apply(s, m); status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "more than the limit") {
			t.Errorf("a change with %d %s: %v, want InvalidArgument naming the limit", max+1, name, err)
		}
	}
}

// A change of many listeners leaves the agent's list as sorting it would,
// and a list handed out before stays as it was.
func TestLargeChangeKeepsTheListInOrder(t *testing.T) {
	r, _ := newReg(t, Options{})
	s := open(t, r, "Ubuntu", agentAddr)
	var first []*wslfwdv1.Listener
	for p := range uint32(200) {
		first = append(first, listener("0.0.0.0", 1000+2*p))
	}
	if err := r.Apply(s, snapshot(1, network("172.28.240.53"), first...)); err != nil {
		t.Fatal(err)
	}
	before, _, _ := r.State()
	handed := slices.Clone(before[0].Listeners)
	var added []*wslfwdv1.Listener
	for p := range uint32(150) {
		added = append(added, listener("0.0.0.0", 1001+2*p))
	}
	if err := r.Apply(s, changes(2, added, first[:100])); err != nil {
		t.Fatal(err)
	}
	after, _, _ := r.State()
	got := after[0].Listeners
	if len(got) != 250 || !slices.IsSortedFunc(got, wire.CompareListeners) {
		t.Fatalf("%d listeners after the change, sorted %v; want 250, sorted", len(got), slices.IsSortedFunc(got, wire.CompareListeners))
	}
	if !slices.Equal(before[0].Listeners, handed) {
		t.Fatal("the list handed out before the change changed under its reader")
	}
}

// A listen address must be written as netip writes it, and a process name
// must fit in maxProcessName bytes.
func TestListenerTextBounds(t *testing.T) {
	for _, tc := range []struct {
		name string
		l    *wslfwdv1.Listener
	}{
		{"another spelling of ::", &wslfwdv1.Listener{Protocol: tcp, Family: wslfwdv1.AddressFamily_ADDRESS_FAMILY_IPV6, Listen: "0::0", Port: 80}},
		{"leading zeros", &wslfwdv1.Listener{Protocol: tcp, Family: wslfwdv1.AddressFamily_ADDRESS_FAMILY_IPV6, Listen: "fd00::0001", Port: 80}},
		{"a long process name", &wslfwdv1.Listener{Protocol: tcp, Family: ipv4, Listen: "0.0.0.0", Port: 80, ProcessName: strings.Repeat("x", maxProcessName+1)}},
	} {
		if _, err := ValidateListener(tc.l); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
	ok := &wslfwdv1.Listener{Protocol: tcp, Family: ipv4, Listen: "0.0.0.0", Port: 80, ProcessName: strings.Repeat("x", maxProcessName)}
	if _, err := ValidateListener(ok); err != nil {
		t.Errorf("a name of %d bytes: %v", maxProcessName, err)
	}
}

// widestListener is a listener ValidateListener accepts with every field
// at its widest.
func widestListener() *wslfwdv1.Listener {
	return &wslfwdv1.Listener{Protocol: wslfwdv1.Protocol_PROTOCOL_UDP, Family: wslfwdv1.AddressFamily_ADDRESS_FAMILY_IPV6,
		Listen: "fd00:ffff:ffff:ffff:ffff:ffff:ffff:ffff", Port: 65535, Inode: math.MaxUint64, Uid: math.MaxUint32,
		Pid: math.MaxUint32, ProcessName: strings.Repeat("é", maxProcessName/2), V6Only: true}
}

// The message bound holds what an agent at its limit may send: a change
// that removes every listener and adds as many, each as wide as validation
// allows, with a whole network state.
func TestMaxMessageSizeFitsTheWidestChange(t *testing.T) {
	const max = 4096
	w := widestListener()
	if _, err := ValidateListener(w); err != nil {
		t.Fatalf("the widest listener is not valid: %v", err)
	}
	ls := slices.Repeat([]*wslfwdv1.Listener{w}, max)
	m := &wslfwdv1.AgentMessage{Msg: &wslfwdv1.AgentMessage_Changes{Changes: &wslfwdv1.Changes{
		Seq: math.MaxUint64, Added: ls, Removed: ls, WantReply: true, UnreportedListeners: new(uint32(math.MaxUint32))}}}
	need := protobuf.Size(m) + netstate.MaxBytes + protowire.SizeTag(2) + protowire.SizeVarint(netstate.MaxBytes)
	if got := MaxMessageSize(max); got < need {
		t.Fatalf("MaxMessageSize(%d) = %d, below the %d such a change needs", max, got, need)
	}
	if got := MaxMessageSize(max); got > 2<<20 {
		t.Fatalf("MaxMessageSize(%d) = %d, far past what an agent needs", max, got)
	}
}

// ListenerEntries counts every listener an encoded message lists, also
// when a part is given twice (protobuf merges them), and refuses what does
// not parse.
func TestListenerEntries(t *testing.T) {
	l := listener("0.0.0.0", 80)
	snap, err := protobuf.Marshal(snapshot(1, network("172.28.240.53"), l, l, l))
	if err != nil {
		t.Fatal(err)
	}
	ch, err := protobuf.Marshal(changes(2, []*wslfwdv1.Listener{l, l}, []*wslfwdv1.Listener{l}))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		b    []byte
		want int
	}{
		{"snapshot", snap, 3},
		{"changes", ch, 3},
		{"a snapshot given twice", slices.Concat(snap, snap), 6},
		{"snapshot and changes", slices.Concat(snap, ch), 6},
		{"hello", mustMarshal(t, &wslfwdv1.AgentMessage{Msg: &wslfwdv1.AgentMessage_Hello{Hello: hello("Ubuntu")}}), 0},
	} {
		if got, err := ListenerEntries(tc.b); err != nil || got != tc.want {
			t.Errorf("%s: %d, %v; want %d", tc.name, got, err, tc.want)
		}
	}
	if _, err := ListenerEntries(snap[:len(snap)-1]); err == nil {
		t.Error("a truncated message was counted")
	}
}

func mustMarshal(t *testing.T, m protobuf.Message) []byte {
	t.Helper()
	b, err := protobuf.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Statuses the agent has not read are bounded: an agent that never reads
// while it reports ever new listeners (each blocked, each told) makes its
// session end once more wait than twice its listener limit, instead of
// growing the daemon's memory. One that reads keeps the session.
func TestUnreadStatusesEndTheSession(t *testing.T) {
	r, _ := newReg(t, Options{MaxListeners: 4})
	s := open(t, r, "Ubuntu", agentAddr)
	blocked := func(port uint32) []*wslfwdv1.ListenerStatus {
		return []*wslfwdv1.ListenerStatus{{Protocol: tcp, Listen: "10.1.2.3", Port: port, State: wslfwdv1.ForwardState_FORWARD_STATE_BLOCKED}}
	}
	unread := func() bool {
		select {
		case <-s.Unread():
			return true
		default:
			return false
		}
	}
	for p := range uint32(8) {
		s.Reply(blocked(p+1), uint64(p))
	}
	if unread() {
		t.Fatal("the session ended with 8 statuses waiting, twice the limit of 4")
	}
	if out := s.take(); len(out) != 1 || len(out[0].GetForwardStatus().GetStatuses()) != 8 {
		t.Fatalf("outbox %v, want one update of 8 statuses", out)
	}
	for p := range uint32(9) {
		s.Reply(blocked(100+p), uint64(10+p))
	}
	if !unread() {
		t.Fatal("9 statuses wait unread, past twice the limit, and the session goes on")
	}
	if out := s.take(); len(out) != 0 {
		t.Fatalf("an unread session still queues %d messages", len(out))
	}
}

// Agent events waiting for the engine's next step are bounded: an agent
// that connects and leaves in a loop while a step runs long keeps the
// latest maxEvents, not every one.
func TestAgentEventsBetweenStepsAreBounded(t *testing.T) {
	r, _ := newReg(t, Options{Grace: time.Hour})
	for i := range maxEvents + 10 {
		s := open(t, r, "Ubuntu", agentAddr)
		if err := r.Apply(s, snapshot(uint64(i+1), network("172.28.240.53"))); err != nil {
			t.Fatal(err)
		}
		r.Close(s)
	}
	_, evs, lost := r.State()
	if len(evs) != maxEvents {
		t.Fatalf("%d events kept for the next step, want %d", len(evs), maxEvents)
	}
	// Each round made two events: connected and disconnected.
	if want := 2*(maxEvents+10) - maxEvents; lost != want {
		t.Fatalf("%d events said lost, want %d: watchers must learn they missed some", lost, want)
	}
	if last := evs[len(evs)-1].GetKind(); last != wslfwdv1.AgentEventKind_AGENT_EVENT_KIND_DISCONNECTED {
		t.Fatalf("the last event kept is %v, want the latest, a disconnect", last)
	}
	if _, evs, lost := r.State(); len(evs) != 0 || lost != 0 {
		t.Fatalf("%d events, %d lost, after they were handed out", len(evs), lost)
	}
}

package tracker_test

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/wslfwd/wslfwd/agent-linux/tracker"
	"github.com/wslfwd/wslfwd/agent-linux/trigger"
	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/internal/waitfor"
)

// partialSource is a fakeSource that also reads scopes and takes
// listeners from events, recording what it was asked.
type partialSource struct {
	fakeSource
	mu2    sync.Mutex
	scopes []tracker.Scope
	closed []uint64
	full   int
}

func (p *partialSource) Listeners() ([]*wslfwdv1.Listener, error) {
	p.mu2.Lock()
	p.full++
	p.mu2.Unlock()
	return p.fakeSource.Listeners()
}

func (p *partialSource) ListenersIn(s tracker.Scope) ([]*wslfwdv1.Listener, error) {
	p.mu2.Lock()
	p.scopes = append(p.scopes, s)
	p.mu2.Unlock()
	all, err := p.fakeSource.Listeners()
	var out []*wslfwdv1.Listener
	for _, l := range all {
		if l.GetProtocol() == s.Protocol && (s.Port == 0 || l.GetPort() == s.Port) &&
			(s.Family == wslfwdv1.AddressFamily_ADDRESS_FAMILY_UNSPECIFIED || l.GetFamily() == s.Family) {
			out = append(out, l)
		}
	}
	return out, err
}

func (p *partialSource) Opened(ev trigger.Event) *wslfwdv1.Listener {
	return &wslfwdv1.Listener{Protocol: wslfwdv1.Protocol_PROTOCOL_TCP, Family: wslfwdv1.AddressFamily_ADDRESS_FAMILY_IPV4,
		Listen: ev.Addr.String(), Port: uint32(ev.Port), Inode: ev.Inode, Pid: ev.PID, ProcessName: ev.Comm}
}

func (p *partialSource) Closed(inode uint64) {
	p.mu2.Lock()
	defer p.mu2.Unlock()
	p.closed = append(p.closed, inode)
}

func (p *partialSource) fullReads() int {
	p.mu2.Lock()
	defer p.mu2.Unlock()
	return p.full
}

// events is an EventSource the test feeds; send returns once the tracker
// has handled the batch.
type events struct {
	batches chan []trigger.Event
	handled chan struct{}
}

func (e *events) RunEvents(ctx context.Context, handle func([]trigger.Event)) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case b := <-e.batches:
			handle(b)
			e.handled <- struct{}{}
		}
	}
}

func (e *events) send(evs ...trigger.Event) {
	e.batches <- evs
	<-e.handled
}

// runEvents runs tr with an event source until the test ends.
func runEvents(t testing.TB, tr *tracker.Tracker) *events {
	e := &events{batches: make(chan []trigger.Event), handled: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		tr.Run(ctx, tracker.Triggers{Events: e})
	}()
	t.Cleanup(func() { cancel(); <-done })
	return e
}

// tracked returns a tracker of a partialSource listing ls, read once.
func tracked(t *testing.T, ls ...*wslfwdv1.Listener) (*partialSource, *tracker.Tracker) {
	t.Helper()
	src := &partialSource{}
	src.set(netWith("10.0.0.1"), ls...)
	tr := tracker.New(tracker.Config{Source: src})
	if err := tr.Refresh(); err != nil {
		t.Fatal(err)
	}
	return src, tr
}

func opened(port uint16, inode uint64, pid uint32) trigger.Event {
	return trigger.Event{Kind: trigger.Opened, Protocol: 6, Family: 2, Port: port,
		Addr: netip.MustParseAddr("0.0.0.0"), Inode: inode, PID: pid, Comm: "srv"}
}

func keys(s tracker.State) []uint64 {
	var out []uint64
	for k := range s.Listeners.All() {
		out = append(out, k.Inode)
	}
	slices.Sort(out)
	return out
}

// Whole events update one listener each, without reading the kernel; the
// agent's own listeners stay hidden.
func TestWholeEventsUpdateOneListener(t *testing.T) {
	src := &partialSource{}
	src.set(netWith("10.0.0.1"), tcp("0.0.0.0", 22, 1, 5))
	tr := tracker.New(tracker.Config{Source: src, SelfPID: 42})
	if err := tr.Refresh(); err != nil {
		t.Fatal(err)
	}
	before, _ := tr.Current()
	reads := src.fullReads()
	e := runEvents(t, tr)

	e.send(opened(8080, 2, 7), opened(9000, 3, 42))
	st, _ := tr.Current()
	if got := keys(st); !slices.Equal(got, []uint64{1, 2}) {
		t.Fatalf("after listen events: inodes %v, want [1 2] (3 is the agent's own)", got)
	}
	if l, _ := st.Listeners.Get(tracker.Key{Protocol: wslfwdv1.Protocol_PROTOCOL_TCP, Listen: "0.0.0.0", Port: 8080, Inode: 2}); l.GetPid() != 7 || l.GetProcessName() != "srv" {
		t.Errorf("listener from the event: %v", l)
	}
	// The close names only the inode: the kernel may have cleared the port.
	e.send(trigger.Event{Kind: trigger.Closed, Protocol: 6, Inode: 1})
	st, _ = tr.Current()
	if got := keys(st); !slices.Equal(got, []uint64{2}) {
		t.Fatalf("after a close event: inodes %v, want [2]", got)
	}
	if src.fullReads() != reads || len(src.scopes) != 0 || !slices.Equal(src.closed, []uint64{1}) {
		t.Errorf("whole events read the kernel: %d full reads, scopes %v; closed %v", src.fullReads()-reads, src.scopes, src.closed)
	}
	c := tr.Changes(before, st, 9)
	if want := tracker.Diff(before, st, 9); !proto.Equal(c, want) {
		t.Errorf("Changes = %v, Diff = %v", c, want)
	}
}

// An event that does not describe its socket re-reads just its scope.
func TestPartialEventRereadsScope(t *testing.T) {
	udp53 := &wslfwdv1.Listener{Protocol: wslfwdv1.Protocol_PROTOCOL_UDP, Family: wslfwdv1.AddressFamily_ADDRESS_FAMILY_IPV4,
		Listen: "0.0.0.0", Port: 53, Inode: 9}
	src, tr := tracked(t, tcp("0.0.0.0", 22, 1, 5))
	e := runEvents(t, tr)
	// Something else changed the TCP side meanwhile; a UDP bind must not
	// pick that up.
	src.set(netWith("10.0.0.1"), udp53, tcp("0.0.0.0", 22, 1, 5), tcp("0.0.0.0", 80, 4, 5))
	e.send(trigger.Event{Kind: trigger.Opened, Protocol: 17, Family: 2, Port: 53, PID: 77})
	st, _ := tr.Current()
	if got := keys(st); !slices.Equal(got, []uint64{1, 9}) {
		t.Fatalf("after a UDP bind event: inodes %v, want [1 9]", got)
	}
	want := tracker.Scope{Protocol: wslfwdv1.Protocol_PROTOCOL_UDP, Family: wslfwdv1.AddressFamily_ADDRESS_FAMILY_IPV4, Port: 53, PID: 77}
	if len(src.scopes) != 1 || src.scopes[0] != want {
		t.Errorf("scopes read %v, want [%v]", src.scopes, want)
	}
	// A UDP close does not say the port: all UDP of that family.
	src.set(netWith("10.0.0.1"), tcp("0.0.0.0", 22, 1, 5), tcp("0.0.0.0", 80, 4, 5))
	e.send(trigger.Event{Kind: trigger.Closed, Protocol: 17, Family: 2})
	st, _ = tr.Current()
	if got := keys(st); !slices.Equal(got, []uint64{1}) {
		t.Fatalf("after a UDP close event: inodes %v, want [1]", got)
	}
}

// Lost events make the tracker read everything again.
func TestLostEventsRereadAll(t *testing.T) {
	src, tr := tracked(t, tcp("0.0.0.0", 22, 1, 5))
	e := runEvents(t, tr)
	src.set(netWith("10.0.0.1"), tcp("0.0.0.0", 22, 1, 5), tcp("0.0.0.0", 80, 4, 5))
	e.send(trigger.Event{Kind: trigger.Lost})
	st, _ := tr.Current()
	if got := keys(st); !slices.Equal(got, []uint64{1, 4}) {
		t.Fatalf("after lost events: inodes %v, want [1 4]", got)
	}
}

// The kernel reports listen() just before sock_diag can see the socket: a
// full read in between must not drop what the event added, but once the
// journal window has passed the read is the truth again.
func TestFullReadReplaysRecentEvents(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, tr := tracked(t)
		e := runEvents(t, tr)
		e.send(opened(8080, 2, 7))
		if err := tr.Refresh(); err != nil {
			t.Fatal(err)
		}
		if st, _ := tr.Current(); !slices.Equal(keys(st), []uint64{2}) {
			t.Fatalf("a full read right after the event dropped it: %v", keys(st))
		}
		time.Sleep(time.Second)
		if err := tr.Refresh(); err != nil {
			t.Fatal(err)
		}
		if st, _ := tr.Current(); len(keys(st)) != 0 {
			t.Fatalf("a listener no read ever saw outlived the journal: %v", keys(st))
		}
	})
}

// Changes composes the recorded steps into what Diff would say, and falls
// back to Diff for states too far apart. Opens of a socket already held
// name another owner now and then (pid 9 to 12): updates, which both must
// list as added.
func TestChangesMatchesDiff(t *testing.T) {
	_, tr := tracked(t, tcp("0.0.0.0", 22, 1, 5))
	e := runEvents(t, tr)
	states := []tracker.State{}
	cur, _ := tr.Current()
	states = append(states, cur)
	for i := range 100 {
		inode := uint64(100 + i%7)
		if i%3 == 2 {
			e.send(trigger.Event{Kind: trigger.Closed, Protocol: 6, Inode: inode})
		} else {
			e.send(opened(uint16(1000+i%7), inode, uint32(9+i%4)))
		}
		cur, _ := tr.Current()
		states = append(states, cur)
	}
	for i := range states {
		for _, j := range []int{i, i + 1, i + 5, i + 64, i + 65, len(states) - 1} {
			if j >= len(states) || j < i {
				continue
			}
			got, want := tr.Changes(states[i], states[j], 1), tracker.Diff(states[i], states[j], 1)
			if !proto.Equal(got, want) {
				t.Fatalf("Changes(%d, %d) = %v, Diff = %v", i, j, got, want)
			}
		}
	}
}

// BenchmarkEventOpenClose is the agent's per-change cost in user space,
// without the kernel and the session: a listener opens and closes beside
// a thousand others, each applied from a whole event. The sharded Set
// copies a few map entries per change instead of a thousand.
func BenchmarkEventOpenClose(b *testing.B) {
	ls := make([]*wslfwdv1.Listener, 1000)
	for i := range ls {
		ls[i] = tcp("0.0.0.0", uint32(20000+i), uint64(1000+i), 5)
	}
	src := &partialSource{}
	src.set(netWith("10.0.0.1"), ls...)
	tr := tracker.New(tracker.Config{Source: src})
	if err := tr.Refresh(); err != nil {
		b.Fatal(err)
	}
	e := runEvents(b, tr)
	b.ReportAllocs()
	inode := uint64(1 << 20)
	for b.Loop() {
		inode++
		e.send(opened(8080, inode, 7))
		e.send(trigger.Event{Kind: trigger.Closed, Protocol: 6, Inode: inode})
	}
}

// failingEvents is an event source that stops with an error at once.
type failingEvents struct{}

func (failingEvents) RunEvents(context.Context, func([]trigger.Event)) error {
	return errors.New("ring buffer: bad file descriptor")
}

// When the event source fails, the tracker re-reads at once and then
// scans on the fallback trigger, instead of waiting for the safety net.
func TestFailedEventsFallBackToScans(t *testing.T) {
	src, tr := tracked(t, tcp("0.0.0.0", 22, 1, 5))
	reads := src.fullReads()
	wakes := make(chan func(), 1)
	fallback := trigger.Func(func(ctx context.Context, wake func()) error {
		wakes <- wake
		<-ctx.Done()
		return nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		tr.Run(ctx, tracker.Triggers{Events: failingEvents{}, Fallback: fallback})
	}()
	defer func() { cancel(); <-done }()
	var wake func()
	select {
	case wake = <-wakes:
	case <-time.After(10 * time.Second):
		t.Fatal("the fallback did not start after the event source failed")
	}
	waitfor.Cond(t, 10*time.Second, "a re-read after the failure", func() bool { return src.fullReads() > reads })
	_, changed := tr.Current()
	src.set(netWith("10.0.0.1"), tcp("0.0.0.0", 22, 1, 5), tcp("0.0.0.0", 80, 4, 5))
	wake()
	select {
	case <-changed:
	case <-time.After(10 * time.Second):
		t.Fatal("a fallback wake did not re-read the listeners")
	}
	if st, _ := tr.Current(); !slices.Equal(keys(st), []uint64{1, 4}) {
		t.Errorf("after a fallback scan: inodes %v, want [1 4]", keys(st))
	}
}

// A narrow trigger re-reads its protocol's listeners alone: with the eBPF
// trigger's UDP part missing, UDP is scanned while TCP comes from events,
// and a UDP scan must neither read everything nor touch the TCP ones.
func TestNarrowTriggerRereadsOneProtocol(t *testing.T) {
	udp53 := &wslfwdv1.Listener{Protocol: wslfwdv1.Protocol_PROTOCOL_UDP, Family: wslfwdv1.AddressFamily_ADDRESS_FAMILY_IPV4,
		Listen: "0.0.0.0", Port: 53, Inode: 9}
	src, tr := tracked(t, tcp("0.0.0.0", 22, 1, 5))
	reads := src.fullReads()
	wakes := runNarrow(t, tr, wslfwdv1.Protocol_PROTOCOL_UDP)

	// A TCP listener the narrow trigger must not pick up, and a UDP one it must.
	src.set(netWith("10.0.0.1"), udp53, tcp("0.0.0.0", 22, 1, 5), tcp("0.0.0.0", 80, 4, 5))
	_, changed := tr.Current()
	(<-wakes)()
	<-changed
	st, _ := tr.Current()
	if got := keys(st); !slices.Equal(got, []uint64{1, 9}) {
		t.Fatalf("after a UDP scan: inodes %v, want [1 9]", got)
	}
	want := tracker.Scope{Protocol: wslfwdv1.Protocol_PROTOCOL_UDP}
	src.mu2.Lock()
	defer src.mu2.Unlock()
	if src.full != reads || !slices.Equal(src.scopes, []tracker.Scope{want}) {
		t.Errorf("a UDP scan made %d full reads and read scopes %v, want none and [%v]", src.full-reads, src.scopes, want)
	}
}

// runNarrow runs tr with one narrow trigger, for protocol, until the test
// ends; each receive from the channel returns its wake, to call.
func runNarrow(t *testing.T, tr *tracker.Tracker, protocol wslfwdv1.Protocol) <-chan func() {
	wakes := make(chan func())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		tr.Run(ctx, tracker.Triggers{Narrow: []tracker.Narrow{{
			Protocol: protocol,
			Trigger: trigger.Func(func(ctx context.Context, wake func()) error {
				for {
					select {
					case wakes <- wake:
					case <-ctx.Done():
						return nil
					}
				}
			}),
		}}})
	}()
	t.Cleanup(func() { cancel(); <-done })
	return wakes
}

// A listener updated (another owner) and closed in one batch of events
// comes to a removal, in Changes as in Diff: the daemon must let it go.
// And one opened and closed in one batch comes to nothing.
func TestUpdateThenCloseInOneStepIsARemoval(t *testing.T) {
	_, tr := tracked(t, tcp("0.0.0.0", 22, 1, 5))
	e := runEvents(t, tr)
	e.send(opened(8080, 7, 9))
	before, _ := tr.Current()
	e.send(opened(8080, 7, 10), trigger.Event{Kind: trigger.Closed, Protocol: 6, Inode: 7},
		opened(9090, 8, 9), trigger.Event{Kind: trigger.Closed, Protocol: 6, Inode: 8})
	after, _ := tr.Current()
	for name, c := range map[string]*wslfwdv1.Changes{"Changes": tr.Changes(before, after, 3), "Diff": tracker.Diff(before, after, 3)} {
		if len(c.GetAdded()) != 0 || len(c.GetRemoved()) != 1 || c.GetRemoved()[0].GetInode() != 7 {
			t.Errorf("%s after an update and a close: %v, want inode 7 removed and nothing added", name, c)
		}
	}
}

// A listener opened, updated and closed in one batch of events comes to
// nothing: the update is listed once, so the close takes it all away.
func TestOpenUpdateCloseInOneStepIsNothing(t *testing.T) {
	_, tr := tracked(t, tcp("0.0.0.0", 22, 1, 5))
	e := runEvents(t, tr)
	before, _ := tr.Current()
	e.send(opened(8080, 7, 9), opened(8080, 7, 10), trigger.Event{Kind: trigger.Closed, Protocol: 6, Inode: 7})
	after, _ := tr.Current()
	if c := tr.Changes(before, after, 2); c != nil {
		t.Errorf("Changes after an open, an update and a close: %v, want none", c)
	}
}

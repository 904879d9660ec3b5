package tracker_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/wslfwd/wslfwd/agent-linux/tracker"
	"github.com/wslfwd/wslfwd/agent-linux/trigger"
	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
)

// fakeSource is a Source whose truth the test sets.
type fakeSource struct {
	mu        sync.Mutex
	net       *wslfwdv1.NetworkState
	listeners []*wslfwdv1.Listener
	err       error
}

func (f *fakeSource) Network() (*wslfwdv1.NetworkState, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.net, f.err
}

func (f *fakeSource) Listeners() ([]*wslfwdv1.Listener, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.listeners, f.err
}

func (f *fakeSource) set(net *wslfwdv1.NetworkState, ls ...*wslfwdv1.Listener) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.net, f.listeners = net, ls
}

func tcp(listen string, port uint32, inode uint64, pid uint32) *wslfwdv1.Listener {
	return &wslfwdv1.Listener{Protocol: wslfwdv1.Protocol_PROTOCOL_TCP, Family: wslfwdv1.AddressFamily_ADDRESS_FAMILY_IPV4,
		Listen: listen, Port: port, Inode: inode, Pid: pid, ProcessName: "srv"}
}

func netWith(addr string) *wslfwdv1.NetworkState {
	return &wslfwdv1.NetworkState{Interfaces: []*wslfwdv1.Interface{{Name: "eth0", Index: 2,
		Addresses: []*wslfwdv1.InterfaceAddress{{Address: addr, PrefixLength: 20}}}}}
}

func ports(ls []*wslfwdv1.Listener) []uint32 {
	var out []uint32
	for _, l := range ls {
		out = append(out, l.GetPort())
	}
	return out
}

func TestRefreshHidesOwnListenersExceptShown(t *testing.T) {
	src := &fakeSource{}
	src.set(netWith("172.28.240.53"), tcp("0.0.0.0", 8080, 11, 500), tcp("0.0.0.0", 9000, 12, 42), tcp("127.0.0.1", 22, 13, 1))
	tr := tracker.New(tracker.Config{Source: src, SelfPID: 42})
	if err := tr.Refresh(); err != nil {
		t.Fatal(err)
	}
	st, _ := tr.Current()
	snap := st.Snapshot(1)
	if got := ports(snap.GetListeners()); len(got) != 2 || got[0] != 22 || got[1] != 8080 {
		t.Fatalf("listeners %v, want 22 and 8080 (the agent's own 9000 hidden)", got)
	}
	if !proto.Equal(snap.GetNetwork(), netWith("172.28.240.53")) || snap.GetSeq() != 1 {
		t.Errorf("snapshot %v", snap)
	}

	tr.Show(12)
	if err := tr.Refresh(); err != nil {
		t.Fatal(err)
	}
	st2, _ := tr.Current()
	c := tracker.Diff(st, st2, 2)
	if len(c.GetAdded()) != 1 || c.GetAdded()[0].GetPort() != 9000 || c.GetAdded()[0].GetProcessName() != tracker.OwnProcessName || c.GetNetwork() != nil {
		t.Fatalf("after Show: changes %v, want 9000 added as %s", c, tracker.OwnProcessName)
	}
	if src.listeners[1].GetProcessName() != "srv" {
		t.Error("tracker modified the source's listener")
	}
	tr.Hide(12)
	tr.Refresh()
	st3, _ := tr.Current()
	if c := tracker.Diff(st2, st3, 3); len(c.GetRemoved()) != 1 || c.GetRemoved()[0].GetPort() != 9000 {
		t.Errorf("after Hide: changes %v, want 9000 removed", c)
	}
}

func TestDiff(t *testing.T) {
	src := &fakeSource{}
	tr := tracker.New(tracker.Config{Source: src})
	src.set(netWith("10.0.0.1"), tcp("0.0.0.0", 80, 1, 9), tcp("0.0.0.0", 443, 2, 9))
	tr.Refresh()
	a, _ := tr.Current()
	if c := tracker.Diff(a, a, 5); c != nil {
		t.Errorf("Diff of equal states = %v, want nil", c)
	}
	// 443 re-opened (new inode), 80 closed, 8443 opened, address changed.
	src.set(netWith("10.0.0.2"), tcp("0.0.0.0", 443, 3, 9), tcp("0.0.0.0", 8443, 4, 9))
	tr.Refresh()
	b, _ := tr.Current()
	c := tracker.Diff(a, b, 5)
	if c.GetSeq() != 5 || !proto.Equal(c.GetNetwork(), netWith("10.0.0.2")) {
		t.Errorf("changes %v: want seq 5 and the new network", c)
	}
	added, removed := c.GetAdded(), c.GetRemoved()
	if len(added) != 2 || added[0].GetInode() != 3 || added[1].GetPort() != 8443 ||
		len(removed) != 2 || removed[0].GetPort() != 80 || removed[1].GetInode() != 2 {
		t.Errorf("added %v removed %v", added, removed)
	}
}

func TestRunRescansOnWakeAndKeepsStateOnError(t *testing.T) {
	src := &fakeSource{}
	src.set(netWith("10.0.0.1"))
	tr := tracker.New(tracker.Config{Source: src})
	if err := tr.Refresh(); err != nil {
		t.Fatal(err)
	}
	// manual hands its wake function to the test.
	manual := func(wakes chan<- func()) trigger.Trigger {
		return trigger.Func(func(ctx context.Context, wake func()) error {
			wakes <- wake
			<-ctx.Done()
			return nil
		})
	}
	wakes, fullWakes := make(chan func(), 1), make(chan func(), 1)
	failing := trigger.Func(func(context.Context, func()) error { return errors.New("no BTF") })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		tr.Run(ctx, tracker.Triggers{
			Listeners: []trigger.Trigger{failing, manual(wakes)},
			Full:      []trigger.Trigger{manual(fullWakes)},
		})
	}()
	defer func() {
		cancel()
		<-done // Run returns once ctx ends, its triggers stopped
	}()
	wake, fullWake := <-wakes, <-fullWakes

	_, changed := tr.Current()
	src.set(netWith("10.0.0.9"), tcp("0.0.0.0", 3000, 7, 1))
	wake()
	select {
	case <-changed:
	case <-time.After(5 * time.Second):
		t.Fatal("no change published after wake")
	}
	st, changed := tr.Current()
	if st.Listeners.Len() != 1 {
		t.Errorf("listeners %v, want port 3000", st.Listeners)
	}
	// A listener trigger reads listeners only: the network change waits for
	// a network wake.
	if !proto.Equal(st.Network, netWith("10.0.0.1")) {
		t.Errorf("network re-read on a listener wake: %v", st.Network)
	}
	fullWake()
	select {
	case <-changed:
	case <-time.After(5 * time.Second):
		t.Fatal("no change published after a full wake")
	}
	st, changed = tr.Current()
	if !proto.Equal(st.Network, netWith("10.0.0.9")) {
		t.Errorf("network after a full wake: %v", st.Network)
	}

	src.mu.Lock()
	src.err = errors.New("sock_diag: permission denied")
	src.mu.Unlock()
	if err := tr.Refresh(); err == nil {
		t.Error("Refresh hid the source error")
	}
	select {
	case <-changed:
		t.Error("a failed scan replaced the state")
	default:
	}
	if cur, _ := tr.Current(); cur.Listeners.Len() != 1 {
		t.Errorf("state after a failed scan: %v", cur.Listeners)
	}
}

// ScanCost is the median of the recent quiet reads: neither the quickest
// nor one slowed down once.
func TestScanCostIsMedianRecentRead(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := &slowSource{}
		tr := tracker.New(tracker.Config{Source: src})
		if tr.ScanCost() != 0 {
			t.Fatalf("ScanCost before any read = %v", tr.ScanCost())
		}
		for _, d := range []time.Duration{50 * time.Millisecond, 2 * time.Millisecond, 3 * time.Millisecond} {
			src.delay = d
			if err := tr.Refresh(); err != nil {
				t.Fatal(err)
			}
		}
		if got := tr.ScanCost(); got != 3*time.Millisecond {
			t.Errorf("ScanCost = %v, want the median, 3ms", got)
		}
		src.delay = 40 * time.Millisecond
		for range 8 {
			tr.Refresh()
		}
		if got := tr.ScanCost(); got != 40*time.Millisecond {
			t.Errorf("ScanCost after 8 slower reads = %v, want 40ms", got)
		}
	})
}

// While every scan finds changes (a listener opened or closed each
// period), their cost, /proc searches for new owners included, does not
// pace scans: that would slow scanning most when listeners keep changing.
// Only scans that found nothing new count.
func TestScanCostIgnoresScansThatFoundChanges(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := &slowSource{delay: 2 * time.Millisecond}
		tr := tracker.New(tracker.Config{Source: src})
		if err := tr.Refresh(); err != nil {
			t.Fatal(err)
		}
		src.delay = 40 * time.Millisecond
		for i := range 20 {
			src.listeners = []*wslfwdv1.Listener{tcp("0.0.0.0", uint32(9000+i), uint64(100+i), 1)}
			if err := tr.Refresh(); err != nil {
				t.Fatal(err)
			}
		}
		if got := tr.ScanCost(); got != 2*time.Millisecond {
			t.Errorf("ScanCost after 20 slow scans that each found a change = %v, want the quiet scan's 2ms", got)
		}
		if err := tr.Refresh(); err != nil { // the same listener again: no change
			t.Fatal(err)
		}
		if got := tr.ScanCost(); got != 40*time.Millisecond {
			t.Errorf("ScanCost = %v, want 40ms: a quiet scan counts, and of two the median is the slower", got)
		}
	})
}

// slowSource takes delay (of fake time, in a synctest bubble) per
// listener read.
type slowSource struct {
	delay     time.Duration
	listeners []*wslfwdv1.Listener
}

func (s *slowSource) Network() (*wslfwdv1.NetworkState, error) { return &wslfwdv1.NetworkState{}, nil }

func (s *slowSource) Listeners() ([]*wslfwdv1.Listener, error) {
	time.Sleep(s.delay)
	return s.listeners, nil
}

// Owner searches a quiet scan makes are paced by their own budget: what
// they took is not the scan's cost, or a search put off by its budget
// would also slow the scans that give it its turns (scan-only agents
// with 1,000 new listeners scanned every 4 s, not every 0.6 s).
func TestScanCostLeavesOutOwnerSearches(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := &walkingSource{slowSource: slowSource{delay: 30 * time.Millisecond}, walk: 28 * time.Millisecond}
		tr := tracker.New(tracker.Config{Source: src})
		for range 3 {
			if err := tr.Refresh(); err != nil {
				t.Fatal(err)
			}
		}
		if got := tr.ScanCost(); got != 2*time.Millisecond {
			t.Errorf("ScanCost = %v, want 2ms: 30ms, of which 28ms searching /proc", got)
		}
	})
}

// walkingSource is a slowSource that spends walk of each read's delay
// searching /proc for owners (tracker.Walker).
type walkingSource struct {
	slowSource
	walk, walked time.Duration
}

func (s *walkingSource) Listeners() ([]*wslfwdv1.Listener, error) {
	s.walked += s.walk
	return s.slowSource.Listeners()
}

func (s *walkingSource) Walked() time.Duration { return s.walked }

// A listener first read without its owner (a search of /proc the walk
// budget put off) is published again once a read names it, as an update
// (added, not removed: the daemon replaces what it holds under the key);
// a later read that names none again takes nothing away.
func TestOwnerFoundLaterIsPublished(t *testing.T) {
	src := &fakeSource{}
	anon := tcp("0.0.0.0", 8080, 7, 0)
	anon.ProcessName = ""
	src.set(netWith("172.28.240.53"), anon)
	tr := tracker.New(tracker.Config{Source: src})
	if err := tr.Refresh(); err != nil {
		t.Fatal(err)
	}
	before, _ := tr.Current()
	src.set(netWith("172.28.240.53"), tcp("0.0.0.0", 8080, 7, 42))
	if err := tr.Refresh(); err != nil {
		t.Fatal(err)
	}
	after, _ := tr.Current()
	for _, c := range []*wslfwdv1.Changes{tr.Changes(before, after, 2), tracker.Diff(before, after, 2)} {
		if len(c.GetRemoved()) != 0 || len(c.GetAdded()) != 1 || c.GetAdded()[0].GetPid() != 42 || c.GetAdded()[0].GetProcessName() != "srv" {
			t.Fatalf("changes once the owner is found: %v, want the listener added again with pid 42", c)
		}
	}
	src.set(netWith("172.28.240.53"), anon)
	if err := tr.Refresh(); err != nil {
		t.Fatal(err)
	}
	if st, _ := tr.Current(); tracker.Diff(after, st, 3) != nil {
		t.Fatalf("a read that names no owner took it away: %v", tracker.Diff(after, st, 3))
	}
}

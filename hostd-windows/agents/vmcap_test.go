package agents

import (
	"net/netip"
	"slices"
	"testing"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
)

// capped returns the ports of distro's listeners over its source's cap,
// as State hands them to the engine.
func capped(t *testing.T, r *Registry, distro string) []uint32 {
	t.Helper()
	present, _, _ := r.State()
	for _, a := range present {
		if a.Distro == distro {
			var out []uint32
			for _, l := range a.Capped {
				out = append(out, l.GetPort())
			}
			return out
		}
	}
	t.Fatalf("no agent %s", distro)
	return nil
}

func ports(from, to uint32) []*wslfwdv1.Listener {
	var out []*wslfwdv1.Listener
	for p := from; p <= to; p++ {
		out = append(out, listener("0.0.0.0", p))
	}
	return out
}

// Distros made up by one VM (each connecting from another address of the
// WSL network, all on the daemon's one WSL address) share one cap of
// distinct ports: the first to arrive keep theirs, the rest are capped.
func TestTheVMsDistrosShareOneCapOfPorts(t *testing.T) {
	r, _ := newReg(t, Options{MaxListeners: 4, MaxPortsPerSource: 4})
	for i, distro := range []string{"a", "b", "c"} {
		peer := netip.AddrPortFrom(netip.AddrFrom4([4]byte{172, 28, 240, byte(53 + i)}), 40000)
		s := open(t, r, distro, peer)
		first := uint32(1000 + 2*i) // a: 1000-1003, b: 1002-1005, c: 1004-1007
		if err := r.Apply(s, snapshot(1, network(peer.Addr().String()), ports(first, first+3)...)); err != nil {
			t.Fatal(err)
		}
	}
	if got := capped(t, r, "a"); len(got) != 0 {
		t.Errorf("a capped %v, want none: it came first", got)
	}
	// b shares 1002 and 1003 with a; its own 1004 and 1005 are past the
	// VM's four.
	if got, want := capped(t, r, "b"), []uint32{1004, 1005}; !slices.Equal(got, want) {
		t.Errorf("b capped %v, want %v", got, want)
	}
	if got, want := capped(t, r, "c"), []uint32{1004, 1005, 1006, 1007}; !slices.Equal(got, want) {
		t.Errorf("c capped %v, want %v", got, want)
	}
	// Another source (loopback) has a cap of its own.
	h := hello("wsl1")
	h.NetworkingMode = wslfwdv1.NetworkingMode_NETWORKING_MODE_WSL1
	s, err := r.Open(h, netip.MustParseAddrPort("127.0.0.1:40000"), netip.MustParseAddrPort("127.0.0.1:17810"))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Apply(s, snapshot(1, network(), ports(2000, 2003)...)); err != nil {
		t.Fatal(err)
	}
	if got := capped(t, r, "wsl1"); len(got) != 0 {
		t.Errorf("loopback's agent capped %v, want none: the VM's cap is not its", got)
	}
}

// A port that frees goes to the port that waited longest, and the choice
// holds until something leaves: nothing flaps between States, and an
// admitted port reported again (a snapshot after a reconnect) keeps its
// place ahead of the waiting ones.
func TestFreedPlacesGoToTheLongestWaiting(t *testing.T) {
	r, _ := newReg(t, Options{MaxListeners: 4, MaxPortsPerSource: 2})
	a := open(t, r, "a", agentAddr)
	if err := r.Apply(a, snapshot(1, network(agentAddr.Addr().String()), ports(1, 2)...)); err != nil {
		t.Fatal(err)
	}
	b := open(t, r, "b", netip.MustParseAddrPort("172.28.240.54:40000"))
	if err := r.Apply(b, snapshot(1, network("172.28.240.54"), ports(3, 3)...)); err != nil {
		t.Fatal(err)
	}
	if err := r.Apply(a, changes(2, ports(4, 4), nil)); err != nil {
		t.Fatal(err)
	}
	if got, want := capped(t, r, "b"), []uint32{3}; !slices.Equal(got, want) {
		t.Fatalf("b capped %v, want %v", got, want)
	}
	for range 3 {
		if got, want := capped(t, r, "a"), []uint32{4}; !slices.Equal(got, want) {
			t.Fatalf("a capped %v, want %v", got, want)
		}
	}
	// a reconnects with the same ports: 1 and 2 stay admitted, and 4
	// keeps its place in the queue, behind 3.
	a2 := open(t, r, "a", agentAddr)
	if err := r.Apply(a2, snapshot(1, network(agentAddr.Addr().String()), append(ports(1, 2), ports(4, 4)...)...)); err != nil {
		t.Fatal(err)
	}
	if got, want := capped(t, r, "b"), []uint32{3}; !slices.Equal(got, want) {
		t.Fatalf("after a's reconnect b capped %v, want %v", got, want)
	}
	// 1 closes: port 3 (b's, waiting since before 4) takes its place.
	if err := r.Apply(a2, changes(2, nil, ports(1, 1))); err != nil {
		t.Fatal(err)
	}
	if got := capped(t, r, "b"); len(got) != 0 {
		t.Errorf("b capped %v after a place freed, want none", got)
	}
	if got, want := capped(t, r, "a"), []uint32{4}; !slices.Equal(got, want) {
		t.Errorf("a capped %v, want %v", got, want)
	}
	// a's agent leaves for good: its port 2 frees, and 4 goes with it;
	// b's first new port gets the place.
	r.Close(a2)
	if err := r.Apply(b, changes(2, ports(5, 6), nil)); err != nil {
		t.Fatal(err)
	}
	if got, want := capped(t, r, "b"), []uint32{6}; !slices.Equal(got, want) {
		t.Errorf("b capped %v with a gone from the table, want %v", got, want)
	}
}

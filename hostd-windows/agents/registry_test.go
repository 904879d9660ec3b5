package agents

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	protobuf "google.golang.org/protobuf/proto"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
)

const (
	tcp  = wslfwdv1.Protocol_PROTOCOL_TCP
	ipv4 = wslfwdv1.AddressFamily_ADDRESS_FAMILY_IPV4
	nat  = wslfwdv1.NetworkingMode_NETWORKING_MODE_NAT
)

var (
	agentAddr = netip.MustParseAddrPort("172.28.240.53:40000")
	hostAddr  = netip.MustParseAddrPort("172.28.240.1:17810")
)

func hello(distro string) *wslfwdv1.AgentHello {
	return &wslfwdv1.AgentHello{Distro: distro, NetworkingMode: nat, AgentVersion: "0.1.0", ProtocolRevision: 1, BootId: "boot-1"}
}

func network(addrs ...string) *wslfwdv1.NetworkState {
	lo := &wslfwdv1.Interface{Name: "lo", Flags: []string{"up", "loopback"}, Addresses: []*wslfwdv1.InterfaceAddress{{Address: "127.0.0.1", PrefixLength: 8}}}
	eth := &wslfwdv1.Interface{Name: "eth0", Flags: []string{"up"}}
	for _, a := range addrs {
		eth.Addresses = append(eth.Addresses, &wslfwdv1.InterfaceAddress{Address: a, PrefixLength: 20})
	}
	return &wslfwdv1.NetworkState{Interfaces: []*wslfwdv1.Interface{lo, eth}}
}

func listener(addr string, port uint32) *wslfwdv1.Listener {
	return &wslfwdv1.Listener{Protocol: tcp, Family: ipv4, Listen: addr, Port: port, Inode: uint64(port)}
}

func snapshot(seq uint64, n *wslfwdv1.NetworkState, ls ...*wslfwdv1.Listener) *wslfwdv1.AgentMessage {
	return &wslfwdv1.AgentMessage{Msg: &wslfwdv1.AgentMessage_Snapshot{Snapshot: &wslfwdv1.Snapshot{Seq: seq, Network: n, Listeners: ls}}}
}

func changes(seq uint64, added, removed []*wslfwdv1.Listener) *wslfwdv1.AgentMessage {
	return &wslfwdv1.AgentMessage{Msg: &wslfwdv1.AgentMessage_Changes{Changes: &wslfwdv1.Changes{Seq: seq, Added: added, Removed: removed}}}
}

func newReg(t *testing.T, o Options) (*Registry, *int) {
	t.Helper()
	kicks := new(int)
	o.Changed = func() { *kicks++ }
	if o.Targets.HostAddrs == nil {
		o.Targets.HostAddrs = func() ([]netip.Addr, error) {
			return []netip.Addr{hostAddr.Addr(), netip.MustParseAddr("127.0.0.1")}, nil
		}
	}
	return New(o), kicks
}

func open(t *testing.T, r *Registry, distro string, peer netip.AddrPort) *Session {
	t.Helper()
	s, err := r.Open(hello(distro), peer, hostAddr)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return s
}

// outbox drains a session's queued messages.
func outbox(s *Session) []*wslfwdv1.HostMessage { return s.take() }

func resyncs(msgs []*wslfwdv1.HostMessage) int {
	n := 0
	for _, m := range msgs {
		if m.GetResync() != nil {
			n++
		}
	}
	return n
}

func listenerPorts(t *testing.T, r *Registry, distro string) []uint32 {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.entries[distro]
	if e == nil {
		return nil
	}
	var out []uint32
	for k := range e.listeners {
		out = append(out, uint32(k.Port))
	}
	slices.Sort(out)
	return out
}

func wantCode(t *testing.T, err error, c codes.Code) {
	t.Helper()
	if status.Code(err) != c {
		t.Fatalf("got %v, want code %s", err, c)
	}
}

func TestOpenRejectsBadHello(t *testing.T) {
	r, _ := newReg(t, Options{})
	for name, h := range map[string]*wslfwdv1.AgentHello{
		"no distro":    {NetworkingMode: nat},
		"long distro":  {Distro: strings.Repeat("a", 65), NetworkingMode: nat},
		"control char": {Distro: "Ubu\nntu", NetworkingMode: nat},
		"no mode":      {Distro: "Ubuntu"},
		"unknown mode": {Distro: "Ubuntu", NetworkingMode: 99},
		"bad utf8":     {Distro: "Ubuntu\xff", NetworkingMode: nat},
		"long kernel":  {Distro: "Ubuntu", NetworkingMode: nat, KernelRelease: strings.Repeat("k", 300)},
		"nil":          nil,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := r.Open(h, agentAddr, hostAddr)
			wantCode(t, err, codes.InvalidArgument)
		})
	}
	if _, err := r.Open(&wslfwdv1.AgentHello{Distro: strings.Repeat("é", 64), NetworkingMode: nat}, agentAddr, hostAddr); err != nil {
		t.Fatalf("64-character distro rejected: %v", err)
	}
	if got := r.Agents(); len(got) != 0 {
		t.Fatalf("a hello alone registered agents: %v", got)
	}
}

func TestSnapshotRegistersAndChangesApply(t *testing.T) {
	r, kicks := newReg(t, Options{})
	s := open(t, r, "Ubuntu", agentAddr)
	if err := r.Apply(s, snapshot(1, network("172.28.240.53"), listener("0.0.0.0", 80))); err != nil {
		t.Fatal(err)
	}
	if err := r.Apply(s, changes(2, []*wslfwdv1.Listener{listener("172.28.240.53", 443)}, []*wslfwdv1.Listener{listener("0.0.0.0", 80)})); err != nil {
		t.Fatal(err)
	}
	if got := listenerPorts(t, r, "Ubuntu"); len(got) != 1 || got[0] != 443 {
		t.Fatalf("listeners = %v, want [443]", got)
	}
	if *kicks != 2 {
		t.Fatalf("kicks = %d, want 2", *kicks)
	}
	agents, events, _ := r.State()
	if len(agents) != 1 || agents[0].Seq != 2 || !agents[0].Connected {
		t.Fatalf("agents = %+v", agents)
	}
	if len(events) != 1 || events[0].GetKind() != wslfwdv1.AgentEventKind_AGENT_EVENT_KIND_CONNECTED {
		t.Fatalf("events = %v, want one CONNECTED", events)
	}
	if resyncs(outbox(s)) != 0 {
		t.Fatal("resync asked for a clean sequence")
	}
}

func TestSeqGapAsksResyncAndAppliesNothing(t *testing.T) {
	r, _ := newReg(t, Options{})
	s := open(t, r, "Ubuntu", agentAddr)
	if err := r.Apply(s, snapshot(1, network("172.28.240.53"), listener("0.0.0.0", 80))); err != nil {
		t.Fatal(err)
	}
	// seq 3 after 1: a gap.
	if err := r.Apply(s, changes(3, []*wslfwdv1.Listener{listener("0.0.0.0", 81)}, nil)); err != nil {
		t.Fatal(err)
	}
	// Further changes are dropped until the snapshot, without more resyncs.
	if err := r.Apply(s, changes(4, []*wslfwdv1.Listener{listener("0.0.0.0", 82)}, nil)); err != nil {
		t.Fatal(err)
	}
	if n := resyncs(outbox(s)); n != 1 {
		t.Fatalf("%d resync requests, want 1", n)
	}
	if got := listenerPorts(t, r, "Ubuntu"); len(got) != 1 || got[0] != 80 {
		t.Fatalf("listeners after a gap = %v, want [80] (nothing applied)", got)
	}
	if err := r.Apply(s, snapshot(5, network("172.28.240.53"), listener("0.0.0.0", 81), listener("0.0.0.0", 82))); err != nil {
		t.Fatal(err)
	}
	if got := listenerPorts(t, r, "Ubuntu"); len(got) != 2 {
		t.Fatalf("listeners after resync = %v, want [81 82]", got)
	}
	if err := r.Apply(s, changes(6, nil, []*wslfwdv1.Listener{listener("0.0.0.0", 81)})); err != nil {
		t.Fatal(err)
	}
	if got := listenerPorts(t, r, "Ubuntu"); len(got) != 1 || got[0] != 82 {
		t.Fatalf("listeners = %v, want [82]", got)
	}
}

func TestChangesBeforeSnapshotAskResync(t *testing.T) {
	r, kicks := newReg(t, Options{})
	s := open(t, r, "Ubuntu", agentAddr)
	if err := r.Apply(s, changes(1, []*wslfwdv1.Listener{listener("0.0.0.0", 80)}, nil)); err != nil {
		t.Fatal(err)
	}
	if n := resyncs(outbox(s)); n != 1 {
		t.Fatalf("%d resync requests, want 1", n)
	}
	if len(r.Agents()) != 0 || *kicks != 0 {
		t.Fatal("changes before a snapshot registered the agent")
	}
}

func TestRemovingUnknownListenerAsksResync(t *testing.T) {
	r, _ := newReg(t, Options{})
	s := open(t, r, "Ubuntu", agentAddr)
	if err := r.Apply(s, snapshot(1, network("172.28.240.53"), listener("0.0.0.0", 80))); err != nil {
		t.Fatal(err)
	}
	if err := r.Apply(s, changes(2, []*wslfwdv1.Listener{listener("0.0.0.0", 81)}, []*wslfwdv1.Listener{listener("0.0.0.0", 9)})); err != nil {
		t.Fatal(err)
	}
	if n := resyncs(outbox(s)); n != 1 {
		t.Fatalf("%d resync requests, want 1", n)
	}
	if got := listenerPorts(t, r, "Ubuntu"); len(got) != 1 || got[0] != 80 {
		t.Fatalf("listeners = %v, want [80]", got)
	}
}

// A listener on an address that is not the agent's target is held (Linux
// keeps such sockets after an address change); the policy blocks it.
func TestForeignAddressListenerHeld(t *testing.T) {
	r, _ := newReg(t, Options{})
	s := open(t, r, "Ubuntu", agentAddr)
	if err := r.Apply(s, snapshot(1, network("172.28.240.53"), listener("10.9.9.9", 80))); err != nil {
		t.Fatalf("snapshot rejected: %v", err)
	}
	agents, _, _ := r.State()
	if len(agents) != 1 || len(agents[0].Listeners) != 1 {
		t.Fatalf("agents = %+v", agents)
	}
	if !slices.Equal(agents[0].Targets, []netip.Addr{agentAddr.Addr()}) {
		t.Fatalf("targets = %v, want only the connection's address", agents[0].Targets)
	}
}

// The interfaces an agent reports are information: its only target is the
// address its connection comes from, whatever it claims.
func TestNATTargetIsTheConnectionAddress(t *testing.T) {
	r, _ := newReg(t, Options{})
	s := open(t, r, "Ubuntu", agentAddr)
	if err := r.Apply(s, snapshot(1, network("127.0.0.1", "192.0.2.2", "10.2.3.1"), listener("0.0.0.0", 80))); err != nil {
		t.Fatal(err)
	}
	agents, _, _ := r.State()
	if len(agents) != 1 || !slices.Equal(agents[0].Targets, []netip.Addr{agentAddr.Addr()}) {
		t.Fatalf("agents = %+v, want one with target %s only", agents, agentAddr.Addr())
	}
}

func TestNATConnectionAddressMustBeAllowedTarget(t *testing.T) {
	for _, peer := range []string{"127.0.0.1", "127.0.0.2", "[::1]", "169.254.1.1", "[fe80::1]", "192.0.2.2",
		"198.51.100.7", "203.0.113.9", "[2001:db8::1]", "224.0.0.1", "255.255.255.255", "0.1.2.3",
		"172.28.240.1" /* the host's own */, "[::ffff:127.0.0.1]"} {
		t.Run(peer, func(t *testing.T) {
			r, _ := newReg(t, Options{})
			ap := netip.MustParseAddrPort(peer + ":5000")
			_, err := r.Open(hello("Ubuntu"), ap, hostAddr)
			wantCode(t, err, codes.PermissionDenied)
			ref := r.Refusals()
			if len(ref) != 1 || ref[0].GetDistro() != "Ubuntu" || ref[0].GetCode() != "PermissionDenied" ||
				!strings.Contains(ref[0].GetReason(), "may not be a target") {
				t.Fatalf("refusals = %v", ref)
			}
		})
	}
	// Mirrored mode dials loopback and has no targets at all.
	r, _ := newReg(t, Options{})
	h := hello("Debian")
	h.NetworkingMode = wslfwdv1.NetworkingMode_NETWORKING_MODE_MIRRORED
	m, err := r.Open(h, netip.MustParseAddrPort("127.0.0.1:5001"), hostAddr)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Apply(m, snapshot(1, network("192.168.1.20"), listener("0.0.0.0", 80))); err != nil {
		t.Fatalf("mirrored agent rejected: %v", err)
	}
	if agents, _, _ := r.State(); len(agents) != 1 || agents[0].Targets != nil {
		t.Fatalf("mirrored agents = %+v, want no targets", agents)
	}
}

// Mirrored mode and WSL1 share the host's addresses: a claim of either
// from a distro's own address is a lie (it would open firewall rules).
func TestSharedModesComeFromTheHost(t *testing.T) {
	for _, mode := range []wslfwdv1.NetworkingMode{wslfwdv1.NetworkingMode_NETWORKING_MODE_MIRRORED, wslfwdv1.NetworkingMode_NETWORKING_MODE_WSL1} {
		r, _ := newReg(t, Options{})
		h := hello("Ubuntu")
		h.NetworkingMode = mode
		_, err := r.Open(h, agentAddr, hostAddr)
		wantCode(t, err, codes.PermissionDenied)
		for _, from := range []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:5000"), netip.MustParseAddrPort("[::1]:5000"),
			netip.AddrPortFrom(hostAddr.Addr(), 5000)} {
			if _, err := r.Open(h, from, hostAddr); err != nil {
				t.Errorf("%s from the host (%s): %v", mode, from, err)
			}
		}
	}
}

func TestLiveDistroCannotBeTakenOver(t *testing.T) {
	r, _ := newReg(t, Options{Grace: time.Hour})
	s := open(t, r, "Ubuntu", agentAddr)
	if err := r.Apply(s, snapshot(1, network("172.28.240.53"), listener("0.0.0.0", 80))); err != nil {
		t.Fatal(err)
	}
	other := netip.MustParseAddrPort("172.28.240.99:5000")
	for range 2 {
		_, err := r.Open(hello("Ubuntu"), other, hostAddr)
		wantCode(t, err, codes.AlreadyExists)
	}
	select {
	case <-s.Replaced():
		t.Fatal("the live session was replaced")
	default:
	}
	if agents, _, _ := r.State(); len(agents) != 1 || agents[0].Session != s || !agents[0].Connected {
		t.Fatalf("agents = %+v, want the first session, connected", agents)
	}
	ref := r.Refusals()
	if len(ref) != 1 || ref[0].GetCount() != 2 || ref[0].GetPeerAddress() != "172.28.240.99" ||
		ref[0].GetCode() != "AlreadyExists" || !strings.Contains(ref[0].GetReason(), "already has a live agent connected from 172.28.240.53") {
		t.Fatalf("refusals = %v, want one row counted twice", ref)
	}
}

// A hello that passed while the distro was free is still refused at its
// snapshot if another agent registered the distro in between.
func TestTakeoverRefusedAtSnapshot(t *testing.T) {
	r, _ := newReg(t, Options{Grace: time.Hour})
	s := open(t, r, "Ubuntu", agentAddr)
	late := open(t, r, "Ubuntu", netip.MustParseAddrPort("172.28.240.99:5000"))
	if err := r.Apply(s, snapshot(1, network("172.28.240.53"))); err != nil {
		t.Fatal(err)
	}
	wantCode(t, r.Apply(late, snapshot(1, network("172.28.240.99"))), codes.AlreadyExists)
	if agents, _, _ := r.State(); len(agents) != 1 || agents[0].Session != s {
		t.Fatalf("agents = %+v, want the first session", agents)
	}
}

// The same agent may replace its live session: restarted (same address), or
// reconnecting from the distro's new address (same instance id). A distro in
// grace may be taken from anywhere.
func TestSameAgentReplacesLiveSession(t *testing.T) {
	r, _ := newReg(t, Options{Grace: time.Hour})
	h := hello("Ubuntu")
	h.InstanceId = "0123456789abcdef0123456789abcdef"
	s, err := r.Open(h, agentAddr, hostAddr)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Apply(s, snapshot(1, network("172.28.240.53"))); err != nil {
		t.Fatal(err)
	}
	moved := netip.MustParseAddrPort("172.28.240.77:5000")
	s2, err := r.Open(h, moved, hostAddr)
	if err != nil {
		t.Fatalf("the same instance from its new address: %v", err)
	}
	if err := r.Apply(s2, snapshot(1, network("172.28.240.77"))); err != nil {
		t.Fatal(err)
	}
	<-s.Replaced()
	if agents, _, _ := r.State(); !slices.Equal(agents[0].Targets, []netip.Addr{moved.Addr()}) {
		t.Fatalf("targets = %v, want the new address", agents[0].Targets)
	}
	// Another instance id from another address is refused...
	_, err = r.Open(hello("Ubuntu"), agentAddr, hostAddr)
	wantCode(t, err, codes.AlreadyExists)
	// ...but accepted once the live session has ended (grace).
	r.Close(s2)
	if _, err := r.Open(hello("Ubuntu"), agentAddr, hostAddr); err != nil {
		t.Fatalf("a distro in grace refused a new agent: %v", err)
	}
}

func TestListenerLimit(t *testing.T) {
	r, kicks := newReg(t, Options{MaxListeners: 2})
	s := open(t, r, "Ubuntu", agentAddr)
	err := r.Apply(s, snapshot(1, network("172.28.240.53"), listener("0.0.0.0", 1), listener("0.0.0.0", 2), listener("0.0.0.0", 3)))
	wantCode(t, err, codes.InvalidArgument)
	if len(r.Agents()) != 0 || *kicks != 0 {
		t.Fatal("an over-limit snapshot changed the registry")
	}
	s = open(t, r, "Ubuntu", agentAddr)
	if err := r.Apply(s, snapshot(1, network("172.28.240.53"), listener("0.0.0.0", 1), listener("0.0.0.0", 2))); err != nil {
		t.Fatal(err)
	}
	err = r.Apply(s, changes(2, []*wslfwdv1.Listener{listener("0.0.0.0", 3)}, nil))
	wantCode(t, err, codes.InvalidArgument)
	if got := listenerPorts(t, r, "Ubuntu"); len(got) != 2 {
		t.Fatalf("listeners = %v after a rejected change, want [1 2]", got)
	}
}

// An agent over the limit reports its oldest listeners and how many it
// left out; the registry keeps the count the last message said (Changes
// without it leave it as it was) and lists it for the CLI.
func TestUnreportedListeners(t *testing.T) {
	r, kicks := newReg(t, Options{MaxListeners: 2})
	s := open(t, r, "Ubuntu", agentAddr)
	snap := snapshot(1, network("172.28.240.53"), listener("0.0.0.0", 1), listener("0.0.0.0", 2))
	snap.GetSnapshot().UnreportedListeners = 5
	if err := r.Apply(s, snap); err != nil {
		t.Fatal(err)
	}
	want := func(n uint32) {
		t.Helper()
		if got := r.Agents()[0].GetUnreportedListeners(); got != n {
			t.Errorf("Agents: unreported %d, want %d", got, n)
		}
		var wantList []*wslfwdv1.UnreportedListeners
		if n > 0 {
			wantList = []*wslfwdv1.UnreportedListeners{{Distro: "Ubuntu", Count: n, Max: 2}}
		}
		if got := r.Unreported(); !slices.EqualFunc(got, wantList, func(a, b *wslfwdv1.UnreportedListeners) bool { return protobuf.Equal(a, b) }) {
			t.Errorf("Unreported() = %v, want %v", got, wantList)
		}
	}
	want(5)
	if err := r.Apply(s, changes(2, nil, []*wslfwdv1.Listener{listener("0.0.0.0", 1)})); err != nil {
		t.Fatal(err)
	}
	want(5)
	ch := changes(3, []*wslfwdv1.Listener{listener("0.0.0.0", 3)}, nil)
	ch.GetChanges().UnreportedListeners = protobuf.Uint32(0)
	if err := r.Apply(s, ch); err != nil {
		t.Fatal(err)
	}
	want(0)

	// A count alone changes no forward: the engine is not kicked for it.
	before := *kicks
	ch = changes(4, nil, nil)
	ch.GetChanges().UnreportedListeners = protobuf.Uint32(7)
	if err := r.Apply(s, ch); err != nil {
		t.Fatal(err)
	}
	want(7)
	if *kicks != before {
		t.Errorf("a count-only change kicked the engine %d times", *kicks-before)
	}
	// A refused change leaves the count as it was.
	ch = changes(5, []*wslfwdv1.Listener{listener("0.0.0.0", 4), listener("0.0.0.0", 5)}, nil)
	ch.GetChanges().UnreportedListeners = protobuf.Uint32(0)
	wantCode(t, r.Apply(s, ch), codes.InvalidArgument)
	want(7)
}

func TestMalformedListenersRejected(t *testing.T) {
	for name, l := range map[string]*wslfwdv1.Listener{
		"port 0":          {Protocol: tcp, Family: ipv4, Listen: "0.0.0.0", Port: 0},
		"port 65536":      {Protocol: tcp, Family: ipv4, Listen: "0.0.0.0", Port: 65536},
		"no protocol":     {Family: ipv4, Listen: "0.0.0.0", Port: 80},
		"no family":       {Protocol: tcp, Listen: "0.0.0.0", Port: 80},
		"family mismatch": {Protocol: tcp, Family: ipv4, Listen: "::", Port: 80},
		"bad address":     {Protocol: tcp, Family: ipv4, Listen: "0.0.0", Port: 80},
	} {
		t.Run(name, func(t *testing.T) {
			r, _ := newReg(t, Options{})
			s := open(t, r, "Ubuntu", agentAddr)
			wantCode(t, r.Apply(s, snapshot(1, network("172.28.240.53"), l)), codes.InvalidArgument)
			if len(r.Agents()) != 0 {
				t.Fatal("malformed snapshot registered the agent")
			}
		})
	}
}

func TestMaxAgents(t *testing.T) {
	r, _ := newReg(t, Options{MaxAgents: 1})
	a := open(t, r, "Ubuntu", agentAddr)
	if err := r.Apply(a, snapshot(1, network("172.28.240.53"))); err != nil {
		t.Fatal(err)
	}
	b := open(t, r, "Debian", agentAddr)
	wantCode(t, r.Apply(b, snapshot(1, network("172.28.240.53"))), codes.ResourceExhausted)
	// The same distro reconnecting replaces, it does not count twice.
	a2 := open(t, r, "Ubuntu", agentAddr)
	if err := r.Apply(a2, snapshot(1, network("172.28.240.53"))); err != nil {
		t.Fatal(err)
	}
}

// Agents in grace give way to a new distro: connecting and leaving under
// ever new names cannot fill the table. Live agents do not give way.
func TestMaxAgentsExpiresLongestGone(t *testing.T) {
	r, _ := newReg(t, Options{MaxAgents: 3, Grace: time.Hour})
	register := func(distro string) (*Session, error) {
		s := open(t, r, distro, agentAddr)
		return s, r.Apply(s, snapshot(1, network("172.28.240.53")))
	}
	live, _ := register("Ubuntu")
	for _, d := range []string{"gone1", "gone2"} {
		s, err := register(d)
		if err != nil {
			t.Fatal(err)
		}
		r.Close(s)
	}
	if _, err := register("Debian"); err != nil {
		t.Fatalf("a new distro with two agents in grace: %v", err)
	}
	if got := r.Distros(false); !slices.Equal(got, []string{"Debian", "Ubuntu", "gone2"}) {
		t.Fatalf("distros = %v, want the longest gone expired", got)
	}
	if _, err := register("Fedora"); err != nil {
		t.Fatal(err)
	}
	_, err := register("Arch")
	wantCode(t, err, codes.ResourceExhausted)
	if _, ok := r.Connected("Ubuntu"); !ok || live == nil {
		t.Fatal("a live agent gave way")
	}
}

func TestGraceKeepsStateAndReconnectReplaces(t *testing.T) {
	r, _ := newReg(t, Options{Grace: time.Hour})
	s := open(t, r, "Ubuntu", agentAddr)
	if err := r.Apply(s, snapshot(1, network("172.28.240.53"), listener("0.0.0.0", 80))); err != nil {
		t.Fatal(err)
	}
	first, _, _ := r.State()
	r.Close(s)
	agents, events, _ := r.State()
	if len(agents) != 1 || agents[0].Connected || len(agents[0].Listeners) != 1 {
		t.Fatalf("after disconnect: %+v, want the agent in grace with its listener", agents)
	}
	if len(events) != 1 || events[0].GetKind() != wslfwdv1.AgentEventKind_AGENT_EVENT_KIND_DISCONNECTED || events[0].GetAgent().GetGraceUntil() == nil {
		t.Fatalf("events = %v, want DISCONNECTED with grace_until", events)
	}
	if _, ok := r.Connected("Ubuntu"); ok {
		t.Fatal("agent in grace reported as connected")
	}

	s2 := open(t, r, "Ubuntu", agentAddr)
	// Until the new session's snapshot, the old state stays.
	if got := listenerPorts(t, r, "Ubuntu"); len(got) != 1 {
		t.Fatalf("listeners after hello = %v", got)
	}
	if err := r.Apply(s2, snapshot(1, network("172.28.240.53"), listener("0.0.0.0", 80))); err != nil {
		t.Fatal(err)
	}
	agents, _, _ = r.State()
	if len(agents) != 1 || !agents[0].Connected || agents[0].Session != s2 {
		t.Fatalf("after reconnect: %+v", agents)
	}
	if !agents[0].Since.Equal(first[0].Since) {
		t.Fatalf("since moved on reconnect within grace: %v -> %v", first[0].Since, agents[0].Since)
	}
	// The old session's late close changes nothing.
	r.Close(s)
	if _, ok := r.Connected("Ubuntu"); !ok {
		t.Fatal("closing the replaced session disconnected the new one")
	}
}

func TestGraceExpiry(t *testing.T) {
	r, _ := newReg(t, Options{Grace: 10 * time.Millisecond})
	s := open(t, r, "Ubuntu", agentAddr)
	if err := r.Apply(s, snapshot(1, network("172.28.240.53"), listener("0.0.0.0", 80))); err != nil {
		t.Fatal(err)
	}
	r.Close(s)
	deadline := time.Now().Add(10 * time.Second)
	for len(r.Agents()) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("agent not expired after its grace period")
		}
		time.Sleep(5 * time.Millisecond)
	}
	_, events, _ := r.State()
	kinds := []wslfwdv1.AgentEventKind{}
	for _, e := range events {
		kinds = append(kinds, e.GetKind())
	}
	want := []wslfwdv1.AgentEventKind{
		wslfwdv1.AgentEventKind_AGENT_EVENT_KIND_CONNECTED,
		wslfwdv1.AgentEventKind_AGENT_EVENT_KIND_DISCONNECTED,
		wslfwdv1.AgentEventKind_AGENT_EVENT_KIND_EXPIRED,
	}
	if len(kinds) != len(want) {
		t.Fatalf("events %v, want %v", kinds, want)
	}
	for i := range want {
		if kinds[i] != want[i] {
			t.Fatalf("events %v, want %v", kinds, want)
		}
	}
}

func TestNewerSessionReplacesConnectedOne(t *testing.T) {
	r, _ := newReg(t, Options{Grace: time.Hour})
	s := open(t, r, "Ubuntu", agentAddr)
	if err := r.Apply(s, snapshot(1, network("172.28.240.53"))); err != nil {
		t.Fatal(err)
	}
	s2 := open(t, r, "Ubuntu", agentAddr)
	if err := r.Apply(s2, snapshot(1, network("172.28.240.53"))); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.Replaced():
	default:
		t.Fatal("old session not told it was replaced")
	}
	// A late snapshot of the old session must not take the entry back.
	wantCode(t, r.Apply(s, snapshot(2, network("172.28.240.53"))), codes.Aborted)
}

// The engine's replies collapse into one update with the latest status
// per listener and the highest seq acted on; a run with nothing to say
// and no reply asked for sends nothing.
func TestOutboxCoalesces(t *testing.T) {
	s := newSession("id", hello("Ubuntu"), agentAddr, hostAddr, time.Now())
	s.Reply(nil, 1)
	if m := s.take(); len(m) != 0 {
		t.Fatalf("a run with nothing to say sent %v", m)
	}
	s.Reply([]*wslfwdv1.ListenerStatus{{Protocol: tcp, Listen: "0.0.0.0", Port: 80, State: wslfwdv1.ForwardState_FORWARD_STATE_PENDING}}, 2)
	s.Reply([]*wslfwdv1.ListenerStatus{{Protocol: tcp, Listen: "0.0.0.0", Port: 80, State: wslfwdv1.ForwardState_FORWARD_STATE_ERROR}}, 3)
	msgs := s.take()
	if len(msgs) != 1 {
		t.Fatalf("%d messages, want one status update: %v", len(msgs), msgs)
	}
	up := msgs[0].GetForwardStatus()
	if st := up.GetStatuses(); len(st) != 1 || st[0].GetState() != wslfwdv1.ForwardState_FORWARD_STATE_ERROR || up.GetSeq() != 3 {
		t.Fatalf("update = %v, want the latest status only, at seq 3", up)
	}
	if m := s.take(); len(m) != 0 {
		t.Fatalf("sent again: %v", m)
	}
	// A reply asked for comes once a run acted on its seq, statuses or not.
	s.askReply(true, 5)
	s.Reply(nil, 4)
	if m := s.take(); len(m) != 0 {
		t.Fatalf("replied before seq 5 was acted on: %v", m)
	}
	s.Reply(nil, 5)
	if m := s.take(); len(m) != 1 || m[0].GetForwardStatus().GetSeq() != 5 || len(m[0].GetForwardStatus().GetStatuses()) != 0 {
		t.Fatalf("reply = %v, want an empty update at seq 5", m)
	}
}

// A disconnected agent carries when its session ended, which an idle
// agent's last message may precede by minutes: "gone" counts from there.
func TestDisconnectedAtIsTheClose(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	r, _ := newReg(t, Options{Grace: time.Hour, Now: func() time.Time { return now }})
	s := open(t, r, "Ubuntu", agentAddr)
	if err := r.Apply(s, snapshot(1, network("172.28.240.53"))); err != nil {
		t.Fatal(err)
	}
	if a := r.Agents()[0]; a.GetDisconnectedAt() != nil {
		t.Fatalf("connected agent has disconnected_at %v", a.GetDisconnectedAt())
	}
	lastMessage := now
	now = now.Add(3 * time.Minute)
	r.Close(s)
	a := r.Agents()[0]
	if !a.GetDisconnectedAt().AsTime().Equal(now) || !a.GetLastSeen().AsTime().Equal(lastMessage) {
		t.Errorf("disconnected_at %v, last_seen %v; want %v and %v", a.GetDisconnectedAt().AsTime(), a.GetLastSeen().AsTime(), now, lastMessage)
	}
}

// wslfwd agents shows each agent's version and how it learns of
// listeners, as its hello said.
func TestAgentsCarryVersionAndDetection(t *testing.T) {
	r, _ := newReg(t, Options{})
	h := hello("Ubuntu")
	h.Detection = &wslfwdv1.ListenerDetection{
		Tcp: wslfwdv1.DetectionMethod_DETECTION_METHOD_EVENTS,
		Udp: wslfwdv1.DetectionMethod_DETECTION_METHOD_SCANS,
	}
	s, err := r.Open(h, agentAddr, hostAddr)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Apply(s, snapshot(1, network("172.28.240.53"))); err != nil {
		t.Fatal(err)
	}
	as := r.Agents()
	if len(as) != 1 || as[0].GetAgentVersion() != "0.1.0" ||
		as[0].GetDetection().GetTcp() != wslfwdv1.DetectionMethod_DETECTION_METHOD_EVENTS ||
		as[0].GetDetection().GetUdp() != wslfwdv1.DetectionMethod_DETECTION_METHOD_SCANS {
		t.Errorf("agents = %v", as)
	}
}

// An agent that keeps sending stale snapshots, and never reads its
// stream, gets one resync request waiting, not one for each: the outbox
// stays bounded.
func TestStaleSnapshotsQueueOneResync(t *testing.T) {
	r, _ := newReg(t, Options{})
	s := open(t, r, "Ubuntu", agentAddr)
	if err := r.Apply(s, snapshot(5, network("172.28.240.53"), listener("0.0.0.0", 80))); err != nil {
		t.Fatal(err)
	}
	for range 1000 {
		if err := r.Apply(s, snapshot(1, network("172.28.240.53"))); err != nil {
			t.Fatal(err)
		}
	}
	msgs := outbox(s)
	if n := resyncs(msgs); n != 1 || len(msgs) > 2 {
		t.Fatalf("after 1000 stale snapshots the outbox holds %d messages, %d of them resyncs; want the welcome and one resync", len(msgs), n)
	}
	if got := listenerPorts(t, r, "Ubuntu"); len(got) != 1 || got[0] != 80 {
		t.Fatalf("listeners after stale snapshots = %v, want [80]", got)
	}
	// Once sent, a new reason asks again.
	if err := r.Apply(s, snapshot(2, network("172.28.240.53"))); err != nil {
		t.Fatal(err)
	}
	if n := resyncs(outbox(s)); n != 1 {
		t.Fatalf("a stale snapshot after the request went out: %d resyncs, want 1", n)
	}
}

func TestBadEchoReadyIsInvalidArgument(t *testing.T) {
	r, _ := newReg(t, Options{})
	s := open(t, r, "Ubuntu", agentAddr)
	m := &wslfwdv1.AgentMessage{Msg: &wslfwdv1.AgentMessage_EchoReady{EchoReady: &wslfwdv1.EchoReady{ProbeId: "p", Error: "\x1b[2J"}}}
	wantCode(t, r.Apply(s, m), codes.InvalidArgument)
}

// A session opens knowing which sockets the registry holds for its
// distro, from the last session, live or in grace, so that its welcome
// can name them; a distro it holds nothing for gets none.
func TestSessionKnowsWhatIsHeld(t *testing.T) {
	r, _ := newReg(t, Options{})
	s := open(t, r, "Ubuntu", agentAddr)
	if len(s.Held) != 0 {
		t.Errorf("first session of a distro: held %v, want none", s.Held)
	}
	udp := listener("0.0.0.0", 30)
	udp.Protocol = wslfwdv1.Protocol_PROTOCOL_UDP
	v6 := listener("::", 30) // the same socket, both families
	v6.Family = wslfwdv1.AddressFamily_ADDRESS_FAMILY_IPV6
	if err := r.Apply(s, snapshot(1, network("172.28.240.53"), listener("0.0.0.0", 40), udp, v6, listener("0.0.0.0", 7))); err != nil {
		t.Fatal(err)
	}
	want := []uint64{7, 30, 40}
	restarted := open(t, r, "Ubuntu", agentAddr) // replaces the live one
	if !slices.Equal(restarted.Held, want) {
		t.Errorf("after a restart: held %v, want %v", restarted.Held, want)
	}
	r.Close(restarted)
	back := open(t, r, "Ubuntu", agentAddr) // in grace
	if !slices.Equal(back.Held, want) {
		t.Errorf("back in grace: held %v, want %v", back.Held, want)
	}
	if other := open(t, r, "Debian", netip.MustParseAddrPort("172.28.240.54:40000")); len(other.Held) != 0 {
		t.Errorf("another distro: held %v, want none", other.Held)
	}
	// After the VM restarted, the same numbers name other sockets.
	rebooted := hello("Ubuntu")
	rebooted.BootId = "boot-2"
	s, err := r.Open(rebooted, agentAddr, hostAddr)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Held) != 0 {
		t.Errorf("after a VM restart: held %v, want none", s.Held)
	}
}

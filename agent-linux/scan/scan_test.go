//go:build linux

package scan_test

import (
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"

	"github.com/wslfwd/wslfwd/agent-linux/internal/nstest"
	"github.com/wslfwd/wslfwd/agent-linux/scan"
	"github.com/wslfwd/wslfwd/agent-linux/tracker"
	"github.com/wslfwd/wslfwd/agent-linux/trigger"
	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
)

func find(ls []*wslfwdv1.Listener, proto wslfwdv1.Protocol, port uint32) *wslfwdv1.Listener {
	for _, l := range ls {
		if l.GetProtocol() == proto && l.GetPort() == port {
			return l
		}
	}
	return nil
}

func port(a net.Addr) uint32 { return uint32(netip.MustParseAddrPort(a.String()).Port()) }

// open makes a namespace with a TCP listener on 127.0.0.1 and a UDP
// socket bound to udpAddr (on udpNet), and a System reading it; all are
// closed when the test ends.
func open(t *testing.T, udpNet, udpAddr string) (net.Listener, net.PacketConn, *scan.System) {
	t.Helper()
	ns := nstest.New(t)
	var tl net.Listener
	var uc net.PacketConn
	nstest.Do(t, ns, func() {
		var err error
		if tl, err = net.Listen("tcp4", "127.0.0.1:0"); err != nil {
			t.Errorf("listen tcp: %v", err)
			return
		}
		t.Cleanup(func() { tl.Close() })
		if uc, err = net.ListenPacket(udpNet, udpAddr); err != nil {
			t.Errorf("listen udp: %v", err)
			return
		}
		t.Cleanup(func() { uc.Close() })
	})
	if t.Failed() {
		t.FailNow()
	}
	sys, err := scan.OpenAt(ns)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sys.Close() })
	return tl, uc, sys
}

func TestListenersInNamespace(t *testing.T) {
	tl, uc, sys := open(t, "udp", ":0")
	ls, err := sys.Listeners()
	if err != nil {
		t.Fatal(err)
	}
	comm, _ := os.ReadFile("/proc/self/comm")
	me := strings.TrimSpace(string(comm))

	tcp := find(ls, wslfwdv1.Protocol_PROTOCOL_TCP, port(tl.Addr()))
	if tcp == nil || tcp.GetListen() != "127.0.0.1" || tcp.GetFamily() != wslfwdv1.AddressFamily_ADDRESS_FAMILY_IPV4 ||
		tcp.GetPid() != uint32(os.Getpid()) || tcp.GetProcessName() != me || tcp.GetInode() == 0 {
		t.Errorf("tcp listener: %v; want 127.0.0.1:%d owned by pid %d %q", tcp, port(tl.Addr()), os.Getpid(), me)
	}
	udp := find(ls, wslfwdv1.Protocol_PROTOCOL_UDP, port(uc.LocalAddr()))
	if udp == nil || udp.GetListen() != "::" || udp.GetFamily() != wslfwdv1.AddressFamily_ADDRESS_FAMILY_IPV6 ||
		udp.GetV6Only() || udp.GetProcessName() != me {
		t.Errorf("udp socket: %v; want dual-stack :: owned by %q", udp, me)
	}
	if len(ls) != 2 {
		t.Errorf("got %d listeners, want 2: %v", len(ls), ls)
	}

	// Unchanged sockets keep their messages; a closed one is gone.
	tl.Close()
	again, err := sys.Listeners()
	if err != nil {
		t.Fatal(err)
	}
	if len(again) != 1 || again[0] != udp {
		t.Errorf("after closing the TCP listener: %v; want only the same UDP message", again)
	}
}

// A partial read lists only its scope, takes a new socket's owner from the
// scope's process without searching /proc, and forgets what closed there;
// an event's listener is the message a full read would make.
func TestPartialReadsAndEvents(t *testing.T) {
	tl, uc, sys := open(t, "udp4", "127.0.0.1:0")

	// The kernel named pid 1 as the binder: believed, though /proc says
	// otherwise, because that search is what the hint saves.
	udpScope := tracker.Scope{Protocol: wslfwdv1.Protocol_PROTOCOL_UDP, Port: port(uc.LocalAddr()), PID: 1}
	ls, err := sys.ListenersIn(udpScope)
	if err != nil {
		t.Fatal(err)
	}
	if len(ls) != 1 || ls[0].GetPort() != port(uc.LocalAddr()) || ls[0].GetPid() != 1 {
		t.Fatalf("UDP scope: %v, want the UDP socket owned by pid 1", ls)
	}

	tcp := ownTCP(t, sys, tl)
	ev := trigger.Event{Kind: trigger.Opened, Protocol: unix.IPPROTO_TCP, Family: unix.AF_INET,
		Port: uint16(tcp.GetPort()), Addr: netip.MustParseAddr(tcp.GetListen()), Inode: tcp.GetInode(),
		UID: tcp.GetUid(), PID: tcp.GetPid()}
	if got := sys.Opened(ev); !proto.Equal(got, tcp) {
		t.Errorf("listener from the event %v, full read made %v", got, tcp)
	}

	uc.Close()
	if ls, err = sys.ListenersIn(udpScope); err != nil || len(ls) != 0 {
		t.Fatalf("UDP scope after close: %v, %v", ls, err)
	}
	tcpScope := tracker.Scope{Protocol: wslfwdv1.Protocol_PROTOCOL_TCP, Family: wslfwdv1.AddressFamily_ADDRESS_FAMILY_IPV4}
	if ls, err = sys.ListenersIn(tcpScope); err != nil || len(ls) != 1 || ls[0] != tcp {
		t.Fatalf("TCP scope: %v, %v; want the same message %v", ls, err, tcp)
	}
}

// A scan that finds nothing new allocates nothing: the agent without the
// eBPF trigger runs one every few hundred milliseconds, and garbage costs
// collections.
func TestUnchangedScanAllocatesNothing(t *testing.T) {
	_, _, sys := open(t, "udp4", "127.0.0.1:0")
	if _, err := sys.Listeners(); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(20, func() {
		if ls, err := sys.Listeners(); err != nil || len(ls) != 2 {
			t.Fatalf("Listeners = %d, %v; want the 2 sockets", len(ls), err)
		}
	})
	if allocs != 0 {
		t.Fatalf("an unchanged scan made %v allocations, want none", allocs)
	}
}

// A full read that finds the same sockets as the last one still reflects
// what events changed in between: here the kernel named another owner for
// a socket, after its close and re-open raced a scan.
func TestFullReadAfterEventsReflectsThem(t *testing.T) {
	tl, _, sys := open(t, "udp4", "127.0.0.1:0")
	for range 2 { // the second read is a quiet one
		if _, err := sys.Listeners(); err != nil {
			t.Fatal(err)
		}
	}
	tcp := ownTCP(t, sys, tl)
	sys.Closed(tcp.GetInode())
	ev := trigger.Event{Kind: trigger.Opened, Protocol: unix.IPPROTO_TCP, Family: unix.AF_INET,
		Port: uint16(tcp.GetPort()), Addr: netip.MustParseAddr(tcp.GetListen()), Inode: tcp.GetInode(),
		UID: tcp.GetUid(), PID: 1, Comm: "init"}
	sys.Opened(ev)
	full, err := sys.Listeners()
	if err != nil {
		t.Fatal(err)
	}
	if got := find(full, wslfwdv1.Protocol_PROTOCOL_TCP, port(tl.Addr())); got.GetPid() != 1 {
		t.Errorf("full read after the events: %v, want the owner they named, pid 1", got)
	}
}

// ownTCP reads all listeners and returns tl's, which must be owned by the
// test's process.
func ownTCP(t *testing.T, sys *scan.System, tl net.Listener) *wslfwdv1.Listener {
	t.Helper()
	full, err := sys.Listeners()
	if err != nil {
		t.Fatal(err)
	}
	tcp := find(full, wslfwdv1.Protocol_PROTOCOL_TCP, port(tl.Addr()))
	if tcp == nil || tcp.GetPid() != uint32(os.Getpid()) {
		t.Fatalf("full read: TCP listener %v, want pid %d", tcp, os.Getpid())
	}
	return tcp
}

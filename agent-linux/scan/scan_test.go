//go:build linux

package scan_test

import (
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/wslfwd/wslfwd/agent-linux/internal/nstest"
	"github.com/wslfwd/wslfwd/agent-linux/scan"
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

func TestListenersInNamespace(t *testing.T) {
	ns := nstest.New(t)
	var tl net.Listener
	var uc net.PacketConn
	nstest.Do(t, ns, func() {
		var err error
		if tl, err = net.Listen("tcp4", "127.0.0.1:0"); err != nil {
			t.Errorf("listen tcp: %v", err)
			return
		}
		if uc, err = net.ListenPacket("udp", ":0"); err != nil {
			t.Errorf("listen udp: %v", err)
		}
	})
	if t.Failed() {
		t.FailNow()
	}
	defer tl.Close()
	defer uc.Close()

	sys, err := scan.OpenAt(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Close()
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

//go:build linux

package ebpftrigger

import (
	"context"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/wslfwd/wslfwd/agent-linux/internal/nstest"
	"github.com/wslfwd/wslfwd/agent-linux/sockdiag"
	"github.com/wslfwd/wslfwd/agent-linux/trigger"
)

// awaitSocket returns the first event of kind from this process about the
// TCP socket with this inode.
func awaitSocket(t *testing.T, ch <-chan event, kind uint32, inode uint64, what string) trigger.Event {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case e := <-ch:
			if e.pid == uint32(os.Getpid()) && e.kind == kind && e.inode == inode {
				return e.public()
			}
		case <-deadline:
			t.Fatalf("no event of kind %d for inode %d: %s", kind, inode, what)
		}
	}
}

// listed returns sock_diag's view of the listener on port in ns.
func listed(t *testing.T, ns netns.NsHandle, port uint16) sockdiag.Socket {
	t.Helper()
	sd, err := sockdiag.OpenAt(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer sd.Close()
	socks, err := sd.Scan(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range socks {
		if s.Protocol == sockdiag.TCP && s.Port == port {
			return s
		}
	}
	t.Fatalf("sock_diag does not list a TCP listener on port %d", port)
	return sockdiag.Socket{}
}

// The listen event carries what sock_diag would list, so the agent needs
// no dump after it; the close event names the same inode.
func TestTCPEventsDescribeSocket(t *testing.T) {
	tr := newTrigger(t, os.Getppid())
	events := watch(t, tr)
	self, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer self.Close()
	comm, err := os.ReadFile("/proc/self/comm")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ network, addr string }{
		{"tcp4", "127.0.0.1:0"},
		{"tcp", "[::]:0"},   // dual stack: IPV6_V6ONLY off
		{"tcp6", "[::1]:0"}, // Go sets IPV6_V6ONLY for tcp6
	} {
		l, err := net.Listen(tc.network, tc.addr)
		if err != nil {
			t.Logf("%s %s: %v; skipped", tc.network, tc.addr, err)
			continue
		}
		want := listed(t, self, uint16(l.Addr().(*net.TCPAddr).Port))
		got := awaitSocket(t, events, kindTCPListen, want.Inode, "listen() on "+tc.addr)
		if !got.Whole() || got.Kind != trigger.Opened || got.Protocol != unix.IPPROTO_TCP ||
			got.Addr != want.Addr || got.Port != want.Port || got.UID != want.UID || got.V6Only != want.V6Only ||
			got.PID != uint32(os.Getpid()) || got.Comm != strings.TrimSpace(string(comm)) {
			t.Errorf("%s: listen event %+v, sock_diag lists %+v", tc.addr, got, want)
		}
		l.Close()
		closed := awaitSocket(t, events, kindTCPUnlisten, want.Inode, "close() on "+tc.addr)
		if !closed.Whole() || closed.Kind != trigger.Closed {
			t.Errorf("%s: close event %+v does not identify the socket", tc.addr, closed)
		}
	}
}

// Listeners in another network namespace (a container's) are not the
// agent's: they are dropped in the kernel, unless that is the namespace
// the trigger watches.
func TestOtherNetworkNamespaceDropped(t *testing.T) {
	needRoot(t, loadBPF)
	ns := nstest.New(t)
	here := watch(t, newTrigger(t, os.Getppid()))
	there, err := New(Options{IgnorePID: uint32(os.Getppid()), NetNS: ns})
	if err != nil {
		t.Fatal(err)
	}
	thereEvents := watch(t, there)

	var inner net.Listener
	nstest.Do(t, ns, func() { inner, err = net.Listen("tcp4", "127.0.0.1:0") })
	if err != nil {
		t.Fatal(err)
	}
	defer inner.Close()
	innerSock := listed(t, ns, uint16(inner.Addr().(*net.TCPAddr).Port))
	awaitSocket(t, thereEvents, kindTCPListen, innerSock.Inode, "listen() in the watched namespace")

	// The ring keeps order: once the marker's event is read, the inner
	// listener's would have been read before it.
	marker, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer marker.Close()
	self, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer self.Close()
	markerSock := listed(t, self, uint16(marker.Addr().(*net.TCPAddr).Port))
	for {
		e := <-here
		if e.kind == kindTCPListen && e.inode == innerSock.Inode {
			t.Fatalf("listener of another namespace reported: %+v", e.public())
		}
		if e.kind == kindTCPListen && e.inode == markerSock.Inode {
			break
		}
	}
}

// UDP sockets bound in another network namespace are dropped in the
// kernel by the cgroup hooks, which see every process's sockets: binds in
// containers must not wake the agent. The trigger watching that namespace
// reports them.
func TestUDPOtherNetworkNamespaceDropped(t *testing.T) {
	needRoot(t, loadBPF)
	ns := nstest.New(t)
	here := newTrigger(t, os.Getppid())
	if here.cookie == 0 {
		t.Skip("this kernel does not tell the netns cookie (SO_NETNS_COOKIE, Linux 5.14): UDP hooks are not filtered")
	}
	hereEvents := watch(t, here)
	there, err := New(Options{IgnorePID: uint32(os.Getppid()), NetNS: ns})
	if err != nil {
		t.Fatal(err)
	}
	thereEvents := watch(t, there)

	var inner net.PacketConn
	nstest.Do(t, ns, func() { inner, err = net.ListenPacket("udp4", "127.0.0.1:0") })
	if err != nil {
		t.Fatal(err)
	}
	defer inner.Close()
	innerPort := uint16(inner.LocalAddr().(*net.UDPAddr).Port)
	awaitBind(t, thereEvents, innerPort, 0, "bind() in the watched namespace")

	// The ring keeps order: once the marker's event is read, the inner
	// bind's would have been read before it.
	var marker net.PacketConn
	for marker == nil || marker.LocalAddr().(*net.UDPAddr).Port == int(innerPort) {
		if marker, err = net.ListenPacket("udp4", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		defer marker.Close()
	}
	awaitBind(t, hereEvents, uint16(marker.LocalAddr().(*net.UDPAddr).Port), innerPort, "marker bind()")
}

// awaitBind waits for this process's UDP bind event on port, failing if
// one on notPort comes first.
func awaitBind(t *testing.T, ch <-chan event, port, notPort uint16, what string) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case e := <-ch:
			if e.kind != kindUDPBind || e.pid != uint32(os.Getpid()) {
				continue
			}
			if notPort != 0 && e.port == notPort {
				t.Fatalf("bind on port %d reported before %s: %+v", notPort, what, e.public())
			}
			if e.port == port {
				return
			}
		case <-deadline:
			t.Fatalf("no bind event on UDP port %d: %s", port, what)
		}
	}
}

// When the ring buffer overflows, RunEvents says events were lost, so the
// agent re-reads everything instead of trusting what it has.
func TestRingOverflowReportsLost(t *testing.T) {
	tr := newTrigger(t, os.Getppid())
	// Nothing reads yet: fill the ring well past its size.
	for range 2 * ringSize / 56 {
		udpBindCloseRaw(t)
	}
	lost, err := tr.lostCount()
	if err != nil {
		t.Fatal(err)
	}
	if lost == 0 {
		t.Fatal("no events counted as lost after overfilling the ring")
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	sawLost := make(chan struct{})
	ran := make(chan error, 1)
	go func() {
		ran <- tr.RunEvents(ctx, func(evs []trigger.Event) {
			for _, e := range evs {
				if e.Kind == trigger.Lost {
					select {
					case <-sawLost:
					default:
						close(sawLost)
					}
				}
			}
		})
	}()
	select {
	case <-sawLost:
	case <-time.After(10 * time.Second):
		t.Fatal("RunEvents did not report the lost events")
	}
	cancel()
	if err := <-ran; err != nil {
		t.Fatal(err)
	}
}

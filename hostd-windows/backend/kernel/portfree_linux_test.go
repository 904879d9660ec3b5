package kernel

import (
	"net"
	"net/netip"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/wslfwd/wslfwd/hostd-windows/backend"
	"github.com/wslfwd/wslfwd/hostd-windows/backend/backendtest"
)

// Checking that a port is free never accepts a connection: a client that
// connects while the backend checks is refused, as before and after.
func TestPortCheckNeverAcceptsAConnection(t *testing.T) {
	needNS(t)
	ap := netip.AddrPortFrom(listenAddr, backendtest.FreePort(t, listenAddr))
	e := backend.Entry{Protocol: backend.TCP, Listen: ap, Connect: ap}
	var connected atomic.Int64
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		sa := &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
		for {
			select {
			case <-stop:
				return
			default:
			}
			fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				t.Error(err)
				return
			}
			if unix.Connect(fd, sa) == nil {
				connected.Add(1)
			}
			unix.Close(fd)
		}
	}()
	for range 2000 {
		if err := portFree(e); err != nil {
			t.Errorf("port check of a free port: %v", err)
			break
		}
	}
	close(stop)
	<-done
	if n := connected.Load(); n > 0 {
		t.Errorf("%d connections to %s completed a handshake during 2,000 checks of the port", n, ap)
	}
}

// An IPv6 zone names an interface or gives its index, as for net's own
// addresses.
func TestSockaddrZones(t *testing.T) {
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	for zone, want := range map[string]uint32{"lo": uint32(lo.Index), "7": 7} {
		_, sa, err := sockaddr(netip.MustParseAddrPort("[fe80::1%" + zone + "]:80"))
		if err != nil {
			t.Errorf("zone %q: %v", zone, err)
			continue
		}
		if got := sa.(*unix.SockaddrInet6).ZoneId; got != want {
			t.Errorf("zone %q: index %d, want %d", zone, got, want)
		}
	}
	if _, _, err := sockaddr(netip.MustParseAddrPort("[fe80::1%no-such-interface]:80")); err == nil {
		t.Error("an unknown zone gave no error")
	}
}

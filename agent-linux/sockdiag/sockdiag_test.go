//go:build linux

package sockdiag_test

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/vishvananda/netns"

	"github.com/wslfwd/wslfwd/agent-linux/internal/nstest"
	"github.com/wslfwd/wslfwd/agent-linux/internal/socktest"
	"github.com/wslfwd/wslfwd/agent-linux/sockdiag"
)

func scan(t testing.TB, ns netns.NsHandle) []sockdiag.Socket {
	t.Helper()
	s, err := sockdiag.OpenAt(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	socks, err := s.Scan(nil)
	if err != nil {
		t.Fatal(err)
	}
	return socks
}

func find(socks []sockdiag.Socket, ino uint64) (sockdiag.Socket, bool) {
	for _, s := range socks {
		if s.Inode == ino {
			return s, true
		}
	}
	return sockdiag.Socket{}, false
}

func TestScanReportsListenersOnly(t *testing.T) {
	ns := nstest.New(t)
	var (
		tcpLoop, tcpDual, tcp6Only net.Listener
		udp4, udp6                 net.PacketConn
		client, server             net.Conn
		connectedUDP               *net.UDPConn
	)
	nstest.Do(t, ns, func() {
		var err error
		must := func(e error) {
			if e != nil && err == nil {
				err = e
			}
		}
		tcpLoop, err = net.Listen("tcp4", "127.0.0.1:0")
		var e error
		tcpDual, e = net.Listen("tcp", ":0") // Go leaves IPV6_V6ONLY off
		must(e)
		tcp6Only, e = net.Listen("tcp6", "[::]:0") // Go sets IPV6_V6ONLY
		must(e)
		udp4, e = net.ListenPacket("udp4", "0.0.0.0:0")
		must(e)
		udp6, e = net.ListenPacket("udp6", "[::1]:0")
		must(e)
		client, e = net.Dial("tcp4", tcpLoop.Addr().String())
		must(e)
		connectedUDP, e = net.DialUDP("udp4", nil, udp4.LocalAddr().(*net.UDPAddr))
		must(e)
		if err != nil {
			t.Errorf("open sockets: %v", err)
		}
	})
	if t.Failed() {
		t.FailNow()
	}
	server, err := tcpLoop.Accept()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []interface{ Close() error }{tcpLoop, tcpDual, tcp6Only, udp4, udp6, client, server, connectedUDP} {
		defer c.Close()
	}

	socks := scan(t, ns)
	port := func(a net.Addr) uint16 { return uint16(netip.MustParseAddrPort(a.String()).Port()) }
	for _, w := range []struct {
		name   string
		c      syscall.Conn
		proto  sockdiag.Protocol
		addr   string
		port   uint16
		v6only bool
	}{
		{"tcp 127.0.0.1", tcpLoop.(*net.TCPListener), sockdiag.TCP, "127.0.0.1", port(tcpLoop.Addr()), false},
		{"tcp dual-stack ::", tcpDual.(*net.TCPListener), sockdiag.TCP, "::", port(tcpDual.Addr()), false},
		{"tcp6 v6only ::", tcp6Only.(*net.TCPListener), sockdiag.TCP, "::", port(tcp6Only.Addr()), true},
		{"udp4 0.0.0.0", udp4.(*net.UDPConn), sockdiag.UDP, "0.0.0.0", port(udp4.LocalAddr()), false},
		{"udp6 ::1", udp6.(*net.UDPConn), sockdiag.UDP, "::1", port(udp6.LocalAddr()), true},
	} {
		got, ok := find(socks, socktest.Inode(t, w.c))
		if !ok {
			t.Errorf("%s: not reported in %+v", w.name, socks)
			continue
		}
		want := sockdiag.Socket{Protocol: w.proto, Addr: netip.MustParseAddr(w.addr), Port: w.port,
			Inode: got.Inode, UID: uint32(os.Geteuid()), V6Only: w.v6only}
		if got != want {
			t.Errorf("%s: got %+v, want %+v", w.name, got, want)
		}
	}
	for name, c := range map[string]syscall.Conn{
		"established client": client.(*net.TCPConn), "established server": server.(*net.TCPConn),
		"connected udp": connectedUDP,
	} {
		if s, ok := find(socks, socktest.Inode(t, c)); ok {
			t.Errorf("%s reported as a listener: %+v", name, s)
		}
	}
	if len(socks) != 5 {
		t.Errorf("got %d sockets, want the 5 listeners: %+v", len(socks), socks)
	}

	// Closed sockets disappear.
	ino := socktest.Inode(t, tcpDual.(*net.TCPListener))
	uino := socktest.Inode(t, udp4.(*net.UDPConn))
	tcpDual.Close()
	udp4.Close()
	socks = scan(t, ns)
	if _, ok := find(socks, ino); ok {
		t.Error("closed TCP listener still reported")
	}
	if _, ok := find(socks, uino); ok {
		t.Error("closed UDP socket still reported")
	}
}

func TestScanReusesResult(t *testing.T) {
	ns := nstest.New(t)
	var ls []net.Listener
	nstest.Do(t, ns, func() {
		for range 300 { // several netlink datagrams' worth
			l, err := net.Listen("tcp4", "127.0.0.1:0")
			if err != nil {
				t.Errorf("listen: %v", err)
				return
			}
			ls = append(ls, l)
		}
	})
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	s, err := sockdiag.OpenAt(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	buf, err := s.Scan(nil)
	if err != nil || len(buf) != len(ls) {
		t.Fatalf("first scan: %d sockets, err %v; want %d", len(buf), err, len(ls))
	}
	allocs := testing.AllocsPerRun(20, func() {
		buf, err = s.Scan(buf)
		if err != nil || len(buf) != len(ls) {
			t.Fatalf("scan: %d sockets, err %v", len(buf), err)
		}
	})
	if allocs > 8 {
		t.Errorf("a scan into a reused slice made %.0f allocations, want at most 8", allocs)
	}
}

// BenchmarkScan measures one scan of a namespace with 100 listeners, alone
// and beside many established connections; the state filter should make
// both cost the same.
func BenchmarkScan(b *testing.B) {
	for _, established := range []int{0, 10000} {
		b.Run("established="+strconv.Itoa(established), func(b *testing.B) {
			ns := nstest.New(b)
			var closers []interface{ Close() error }
			defer func() {
				for _, c := range closers {
					c.Close()
				}
			}()
			nstest.Do(b, ns, func() {
				for range 100 {
					l, err := net.Listen("tcp4", "127.0.0.1:0")
					if err != nil {
						b.Errorf("listen: %v", err)
						return
					}
					closers = append(closers, l)
				}
				// Connections wait unaccepted in the listeners' queues: they
				// are established sockets without a file descriptor on the
				// server side, so 10,000 fit the fd limit.
				for i := range established {
					c, err := net.Dial("tcp4", closers[i%100].(net.Listener).Addr().String())
					if err != nil {
						b.Errorf("dial %d: %v", i, err)
						return
					}
					closers = append(closers, c)
				}
			})
			if b.Failed() {
				return
			}
			s, err := sockdiag.OpenAt(ns)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			var buf []sockdiag.Socket
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if buf, err = s.Scan(buf); err != nil {
					b.Fatal(err)
				}
			}
			if len(buf) != 100 {
				b.Fatalf("scan found %d listeners, want 100", len(buf))
			}
		})
	}
}

// ScanSome lists only what its query selects: protocol, family and port.
func TestScanSomeNarrows(t *testing.T) {
	ns := nstest.New(t)
	var closers []interface{ Close() error }
	defer func() {
		for _, c := range closers {
			c.Close()
		}
	}()
	var port uint16
	nstest.Do(t, ns, func() {
		// One port used by a TCP4, a TCP6 and a UDP4 socket, plus another
		// TCP4 port.
		l, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Error(err)
			return
		}
		closers = append(closers, l)
		port = uint16(l.Addr().(*net.TCPAddr).Port)
		p := strconv.Itoa(int(port))
		for _, open := range []func() (interface{ Close() error }, error){
			func() (interface{ Close() error }, error) { return net.Listen("tcp6", "[::1]:"+p) },
			func() (interface{ Close() error }, error) { return net.ListenPacket("udp4", "127.0.0.1:"+p) },
			func() (interface{ Close() error }, error) { return net.Listen("tcp4", "127.0.0.1:0") },
		} {
			c, err := open()
			if err != nil {
				t.Error(err)
				return
			}
			closers = append(closers, c)
		}
	})
	if t.Failed() {
		t.FailNow()
	}
	s, err := sockdiag.OpenAt(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, tc := range []struct {
		q    sockdiag.Query
		want []string
	}{
		{sockdiag.Query{Protocol: sockdiag.TCP, Port: port}, []string{"tcp 127.0.0.1", "tcp ::1"}},
		{sockdiag.Query{Protocol: sockdiag.TCP, Family: syscall.AF_INET6, Port: port}, []string{"tcp ::1"}},
		{sockdiag.Query{Protocol: sockdiag.UDP, Port: port}, []string{"udp 127.0.0.1"}},
		{sockdiag.Query{Protocol: sockdiag.UDP, Family: syscall.AF_INET6}, nil},
		{sockdiag.Query{Protocol: sockdiag.TCP, Family: syscall.AF_INET}, []string{"tcp 127.0.0.1", "tcp 127.0.0.1"}},
	} {
		socks, err := s.ScanSome(nil, tc.q)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, sk := range socks {
			if tc.q.Port != 0 && sk.Port != port {
				t.Errorf("%+v: socket on another port: %+v", tc.q, sk)
			}
			got = append(got, sk.Protocol.String()+" "+sk.Addr.String())
		}
		slices.Sort(got) // the kernel's order is its hash table's
		if strings.Join(got, ",") != strings.Join(tc.want, ",") {
			t.Errorf("%+v: got %v, want %v", tc.q, got, tc.want)
		}
	}
}

// A kernel that refuses the request for both TCP families at once gets
// one request per family instead, with the same result, and is not asked
// that way again.
func TestScanWithoutBothFamilies(t *testing.T) {
	ns := nstest.New(t)
	open := 0
	keep := func(c io.Closer) {
		t.Cleanup(func() { c.Close() })
		open++
	}
	nstest.Do(t, ns, func() {
		for _, nw := range []string{"tcp4", "tcp6", "tcp"} {
			l, err := net.Listen(nw, ":0")
			if err != nil {
				t.Error(err)
				return
			}
			keep(l)
		}
		c, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Error(err)
			return
		}
		keep(c)
	})
	if t.Failed() {
		t.FailNow()
	}
	scanWith := func(refuse bool) ([]string, bool) {
		s, err := sockdiag.OpenAt(ns)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if refuse {
			sockdiag.RefuseBothFamilies(s)
		}
		var got []string
		for range 2 {
			socks, err := s.Scan(nil)
			if err != nil {
				t.Fatalf("scan (refused: %v): %v", refuse, err)
			}
			got = got[:0]
			for _, sk := range socks {
				got = append(got, fmt.Sprintf("%v %v %d %d", sk.Protocol, sk.Addr, sk.Port, sk.Inode))
			}
		}
		slices.Sort(got)
		return got, sockdiag.BothFamilies(s)
	}
	want, both := scanWith(false)
	t.Logf("this kernel answers both TCP families in one request: %v", both)
	if len(want) != open {
		t.Fatalf("scan found %d sockets, want %d: %v", len(want), open, want)
	}
	got, stillBoth := scanWith(true)
	if stillBoth {
		t.Error("after a refusal the scanner still asks for both families at once")
	}
	if !slices.Equal(got, want) {
		t.Errorf("per-family scan: %v, want %v", got, want)
	}
}

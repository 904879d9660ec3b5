package backendtest

import (
	"io"
	"net"
	"net/netip"
	"sync"
	"testing"

	"github.com/wslfwd/wslfwd/hostd-windows/backend"
)

// Echo starts an echo server for the protocol on 127.0.0.1 and returns
// its address; it stops when t ends. A TCP connection gets back what it
// sends, then EOF once it half-closes; a UDP datagram gets itself back.
// Harnesses that carry traffic can use it as their ConnectTarget.
func Echo(t *testing.T, p backend.Protocol) netip.AddrPort {
	t.Helper()
	switch p {
	case backend.TCP:
		return echoTCP(t)
	case backend.UDP:
		return echoUDP(t)
	}
	t.Fatalf("Echo: no echo server for protocol %q", p)
	return netip.AddrPort{}
}

func echoTCP(t *testing.T) netip.AddrPort {
	t.Helper()
	ln, err := net.ListenTCP("tcp4", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatalf("echo server: %v", err)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns = make(map[*net.TCPConn]struct{})
	)
	wg.Go(func() {
		for {
			c, err := ln.AcceptTCP()
			if err != nil {
				return // closed by the cleanup below
			}
			mu.Lock()
			conns[c] = struct{}{}
			mu.Unlock()
			wg.Go(func() {
				defer func() {
					c.Close()
					mu.Lock()
					delete(conns, c)
					mu.Unlock()
				}()
				if _, err := io.Copy(c, c); err == nil {
					c.CloseWrite()
				}
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().(*net.TCPAddr).AddrPort()
}

func echoUDP(t *testing.T) netip.AddrPort {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatalf("echo server: %v", err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		buf := make([]byte, 64<<10)
		for {
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				if isClosed(err) {
					return
				}
				continue
			}
			c.WriteToUDPAddrPort(buf[:n], from)
		}
	})
	t.Cleanup(func() {
		c.Close()
		wg.Wait()
	})
	return c.LocalAddr().(*net.UDPAddr).AddrPort()
}

// FreePort returns a port on addr that is free for both TCP and UDP at
// the time of the call.
func FreePort(t *testing.T, addr netip.Addr) uint16 {
	t.Helper()
	for range 50 {
		ln, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(netip.AddrPortFrom(addr, 0)))
		if err != nil {
			t.Fatalf("find a free port: %v", err)
		}
		ap := ln.Addr().(*net.TCPAddr).AddrPort()
		pc, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(ap))
		ln.Close()
		if err == nil {
			pc.Close()
			return ap.Port()
		}
	}
	t.Fatalf("find a free port on %s: none free for both TCP and UDP", addr)
	return 0
}

// Occupy binds a port on addr for the protocol, as another program
// would, holds it until t ends, and returns it.
func Occupy(t *testing.T, addr netip.Addr, p backend.Protocol) uint16 {
	t.Helper()
	var (
		c    io.Closer
		port uint16
	)
	switch p {
	case backend.TCP:
		ln, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(netip.AddrPortFrom(addr, 0)))
		if err != nil {
			t.Fatalf("occupy a port: %v", err)
		}
		c, port = ln, ln.Addr().(*net.TCPAddr).AddrPort().Port()
	case backend.UDP:
		pc, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(addr, 0)))
		if err != nil {
			t.Fatalf("occupy a port: %v", err)
		}
		c, port = pc, pc.LocalAddr().(*net.UDPAddr).AddrPort().Port()
	default:
		t.Fatalf("Occupy: protocol %q", p)
	}
	t.Cleanup(func() { c.Close() })
	return port
}

package relay

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wslfwd/wslfwd/hostd-windows/backend"
	"github.com/wslfwd/wslfwd/hostd-windows/backend/backendtest"
	"github.com/wslfwd/wslfwd/internal/syncbuf"
)

const ioTimeout = 10 * time.Second

// newRelay returns a relay that is closed when the test ends.
func newRelay(t *testing.T, opts Options) *Relay {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = testOptions(t).Logger
	}
	r := New(opts)
	t.Cleanup(func() { r.Close() })
	return r
}

// addForward adds a forward from a free loopback port to the target.
func addForward(t *testing.T, r *Relay, p backend.Protocol, to netip.AddrPort) backend.Entry {
	t.Helper()
	e := backend.Entry{Protocol: p, Listen: netip.AddrPortFrom(loopback, backendtest.FreePort(t, loopback)), Connect: to}
	if err := r.Apply(t.Context(), backend.Batch{Add: []backend.Entry{e}}); err != nil {
		t.Fatalf("add %s: %v", e, err)
	}
	return e
}

// serveTCP runs handle for every connection to a new loopback listener
// until the test ends.
func serveTCP(t *testing.T, handle func(*net.TCPConn)) netip.AddrPort {
	t.Helper()
	ln, err := net.ListenTCP("tcp4", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.AcceptTCP()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(ioTimeout))
				handle(c)
			})
		}
	})
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	return ln.Addr().(*net.TCPAddr).AddrPort()
}

func dialTCP(t *testing.T, at netip.AddrPort) *net.TCPConn {
	t.Helper()
	c, err := net.DialTCP("tcp", nil, net.TCPAddrFromAddrPort(at))
	if err != nil {
		t.Fatalf("dial %s: %v", at, err)
	}
	c.SetDeadline(time.Now().Add(ioTimeout))
	t.Cleanup(func() { c.Close() })
	return c
}

// TestHalfCloseFromClient: the client's CloseWrite reaches the target as
// EOF, and the target can still answer.
func TestHalfCloseFromClient(t *testing.T) {
	to := serveTCP(t, func(c *net.TCPConn) {
		n, err := io.Copy(io.Discard, c)
		if err != nil {
			return
		}
		fmt.Fprintf(c, "got %d bytes", n)
	})
	e := addForward(t, newRelay(t, Options{}), backend.TCP, to)

	c := dialTCP(t, e.Listen)
	if _, err := c.Write(make([]byte, 1000)); err != nil {
		t.Fatal(err)
	}
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read the answer after half-close: %v", err)
	}
	if string(got) != "got 1000 bytes" {
		t.Fatalf("answer = %q, want %q", got, "got 1000 bytes")
	}
}

// TestHalfCloseFromTarget: the target's CloseWrite reaches the client as
// EOF, and the client can still send.
func TestHalfCloseFromTarget(t *testing.T) {
	received := make(chan string, 1)
	to := serveTCP(t, func(c *net.TCPConn) {
		io.WriteString(c, "hello")
		if c.CloseWrite() != nil {
			return
		}
		b, _ := io.ReadAll(c)
		received <- string(b)
	})
	e := addForward(t, newRelay(t, Options{}), backend.TCP, to)

	c := dialTCP(t, e.Listen)
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "hello" {
		t.Fatalf("read until EOF = %q, %v; want %q, nil", got, err, "hello")
	}
	if _, err := io.WriteString(c, "still sending"); err != nil {
		t.Fatalf("write after the target half-closed: %v", err)
	}
	c.CloseWrite()
	select {
	case s := <-received:
		if s != "still sending" {
			t.Fatalf("target received %q", s)
		}
	case <-time.After(ioTimeout):
		t.Fatal("target received nothing")
	}
}

// TestRemoveEndsConnections: removing a forward closes its listener and
// both sides of the connections it carries.
func TestRemoveEndsConnections(t *testing.T) {
	targetEnded := make(chan error, 1)
	to := serveTCP(t, func(c *net.TCPConn) {
		io.WriteString(c, "ready")
		_, err := io.Copy(io.Discard, c)
		targetEnded <- err
	})
	r := newRelay(t, Options{})
	e := addForward(t, r, backend.TCP, to)

	c := dialTCP(t, e.Listen)
	if _, err := io.ReadFull(c, make([]byte, len("ready"))); err != nil {
		t.Fatal(err)
	}
	if err := r.Apply(t.Context(), backend.Batch{Remove: []backend.Entry{e}}); err != nil {
		t.Fatalf("remove: %v", err)
	}
	if n, err := c.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("client read after remove = %d, %v; want the connection ended", n, err)
	}
	select {
	case <-targetEnded:
	case <-time.After(ioTimeout):
		t.Fatal("target's connection still open after remove")
	}
	if c, err := net.DialTimeout("tcp", e.Listen.String(), ioTimeout); err == nil {
		c.Close()
		t.Fatal("listener still accepts after remove")
	}
}

// TestDialFailureEndsClient: when the target refuses, the client's
// connection ends instead of hanging, and the forward keeps serving.
func TestDialFailureEndsClient(t *testing.T) {
	closed := netip.AddrPortFrom(loopback, backendtest.FreePort(t, loopback))
	r := newRelay(t, Options{})
	e := addForward(t, r, backend.TCP, closed)

	for range 2 {
		c := dialTCP(t, e.Listen)
		if n, err := c.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("read = %d, %v; want EOF", n, err)
		}
	}
	waitFor(t, "no tracked connections", func() bool { return r.conns(t, e.Key()) == 0 })
}

// TestManyConnections: many concurrent connections are carried
// independently, and all are released when they end.
func TestManyConnections(t *testing.T) {
	const n, size = 200, 32 << 10
	r := newRelay(t, Options{})
	e := addForward(t, r, backend.TCP, backendtest.Echo(t, backend.TCP))

	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			c, err := net.DialTimeout("tcp", e.Listen.String(), ioTimeout)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(ioTimeout))
			sent := bytes.Repeat([]byte{byte(i)}, size)
			go func() { c.Write(sent); c.(*net.TCPConn).CloseWrite() }()
			got, err := io.ReadAll(c)
			if err == nil && !bytes.Equal(got, sent) {
				err = fmt.Errorf("connection %d: got %d bytes back, want %d equal ones", i, len(got), size)
			}
			if err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	waitFor(t, "no tracked connections", func() bool { return r.conns(t, e.Key()) == 0 })
}

// TestUDPIdleExpiry: a flow without traffic ends after the idle timeout,
// and the client's next datagram opens a new one.
func TestUDPIdleExpiry(t *testing.T) {
	r := newRelay(t, Options{UDPIdleTimeout: 500 * time.Millisecond})
	e := addForward(t, r, backend.UDP, backendtest.Echo(t, backend.UDP))

	c := dialUDP(t, e.Listen)
	roundTrip(t, c, "one")
	if got := r.flows(t, e.Key()); len(got) != 1 || got[0] != localAddr(c) {
		t.Fatalf("flows = %v, want just %v", got, localAddr(c))
	}
	waitFor(t, "the flow to expire", func() bool { return len(r.flows(t, e.Key())) == 0 })
	roundTrip(t, c, "two")
}

// TestUDPFlowLimit: clients beyond MaxUDPFlows get no flow while the
// others are served.
func TestUDPFlowLimit(t *testing.T) {
	r := newRelay(t, Options{MaxUDPFlows: 2})
	e := addForward(t, r, backend.UDP, backendtest.Echo(t, backend.UDP))

	a, b, extra := dialUDP(t, e.Listen), dialUDP(t, e.Listen), dialUDP(t, e.Listen)
	roundTrip(t, a, "a")
	roundTrip(t, b, "b")
	if _, err := extra.Write([]byte("extra")); err != nil {
		t.Fatal(err)
	}
	// The relay reads datagrams in order: once a's next one has come back,
	// extra's has been handled.
	roundTrip(t, a, "a again")
	for _, f := range r.flows(t, e.Key()) {
		if f == localAddr(extra) {
			t.Fatalf("a third flow was opened beyond the limit of 2: %v", r.flows(t, e.Key()))
		}
	}
	if n := len(r.flows(t, e.Key())); n != 2 {
		t.Fatalf("%d flows, want 2", n)
	}
}

// TestUDPRepliesFromListenAddress: replies come from the address the
// client sent to, so clients that check the source accept them.
func TestUDPRepliesFromListenAddress(t *testing.T) {
	r := newRelay(t, Options{})
	e := addForward(t, r, backend.UDP, backendtest.Echo(t, backend.UDP))

	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 64)
	waitFor(t, "a reply", func() bool {
		c.WriteToUDPAddrPort([]byte("who"), e.Listen)
		c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		n, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			return false
		}
		if from != e.Listen || string(buf[:n]) != "who" {
			t.Fatalf("reply %q from %v, want %q from %v", buf[:n], from, "who", e.Listen)
		}
		return true
	})
}

// TestCloseStopsEverything: Close with connections and flows in progress
// ends them all and leaves no goroutine behind.
func TestCloseStopsEverything(t *testing.T) {
	tcpTo, udpTo := backendtest.Echo(t, backend.TCP), backendtest.Echo(t, backend.UDP)
	before := runtime.NumGoroutine()

	r := New(testOptions(t))
	te := addForward(t, r, backend.TCP, tcpTo)
	ue := addForward(t, r, backend.UDP, udpTo)
	var conns []*net.TCPConn
	for range 10 {
		c := dialTCP(t, te.Listen)
		io.WriteString(c, "x")
		if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		roundTrip(t, dialUDP(t, ue.Listen), "x")
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	for _, c := range conns {
		if _, err := c.Read(make([]byte, 1)); err == nil {
			t.Fatal("connection still carries data after Close")
		}
	}
	waitFor(t, "the relay's goroutines to end", func() bool { return runtime.NumGoroutine() <= before })

	if _, err := r.List(t.Context()); !errors.Is(err, errClosed) {
		t.Errorf("List after Close: %v, want %v", err, errClosed)
	}
	if err := r.Apply(t.Context(), backend.Batch{Add: []backend.Entry{te}}); !errors.Is(err, errClosed) {
		t.Errorf("Apply after Close: %v, want %v", err, errClosed)
	}
	if err := r.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestApplyCancelled: a batch whose context has ended is not attempted.
func TestApplyCancelled(t *testing.T) {
	r := newRelay(t, Options{})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	e := backend.Entry{Protocol: backend.TCP, Listen: netip.AddrPortFrom(loopback, backendtest.FreePort(t, loopback)), Connect: backendtest.Echo(t, backend.TCP)}
	if err := r.Apply(ctx, backend.Batch{Add: []backend.Entry{e}}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Apply = %v, want context.Canceled", err)
	}
	if got, _ := r.List(t.Context()); len(got) != 0 {
		t.Fatalf("List = %v after a cancelled Apply, want nothing", got)
	}
}

func dialUDP(t *testing.T, at netip.AddrPort) *net.UDPConn {
	t.Helper()
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(at))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func localAddr(c *net.UDPConn) netip.AddrPort { return c.LocalAddr().(*net.UDPAddr).AddrPort() }

// roundTrip sends msg until it comes back; datagrams may be lost.
func roundTrip(t *testing.T, c *net.UDPConn, msg string) {
	t.Helper()
	buf := make([]byte, len(msg)+1)
	waitFor(t, fmt.Sprintf("echo of %q", msg), func() bool {
		c.Write([]byte(msg))
		c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		n, err := c.Read(buf)
		return err == nil && string(buf[:n]) == msg
	})
}

// TestIPv6Listener: a forward may listen on IPv6 and reach an IPv4 target,
// beside an IPv4 forward on the same port number.
func TestIPv6Listener(t *testing.T) {
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Skipf("needs IPv6 loopback: %v", err)
	}
	ln.Close()
	r := newRelay(t, Options{})
	port := backendtest.FreePort(t, loopback)
	v4 := backend.Entry{Protocol: backend.TCP, Listen: netip.AddrPortFrom(loopback, port), Connect: backendtest.Echo(t, backend.TCP)}
	v6 := backend.Entry{Protocol: backend.TCP, Listen: netip.AddrPortFrom(netip.IPv6Loopback(), port), Connect: backendtest.Echo(t, backend.TCP)}
	if err := r.Apply(t.Context(), backend.Batch{Add: []backend.Entry{v4, v6}}); err != nil {
		t.Fatalf("add %s and %s: %v", v4, v6, err)
	}
	for _, e := range []backend.Entry{v4, v6} {
		c := dialTCP(t, e.Listen)
		io.WriteString(c, "hi")
		c.CloseWrite()
		if got, err := io.ReadAll(c); err != nil || string(got) != "hi" {
			t.Errorf("echo through %s = %q, %v", e, got, err)
		}
	}
}

// holdTCP opens a connection through the forward and reports whether the
// relay carries it: an echo comes back, or the relay ends it at once.
func holdTCP(t *testing.T, at netip.AddrPort) (*net.TCPConn, bool) {
	t.Helper()
	c, err := net.DialTCP("tcp", nil, net.TCPAddrFromAddrPort(at))
	if errors.Is(err, syscall.ECONNRESET) {
		return nil, false // reset before connect returned
	}
	if err != nil {
		t.Fatalf("dial %s: %v", at, err)
	}
	c.SetDeadline(time.Now().Add(ioTimeout))
	t.Cleanup(func() { c.Close() })
	if _, err := io.WriteString(c, "x"); err != nil {
		return c, false
	}
	_, err = io.ReadFull(c, make([]byte, 1))
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("connection to %s neither carried nor ended", at)
	}
	return c, err == nil
}

// TestTCPConnLimit: a forward carries at most MaxTCPConns clients at
// once; further ones are ended at once and the carried ones go on, and a
// client that ends makes room for another.
func TestTCPConnLimit(t *testing.T) {
	var logs syncbuf.Buffer
	r := newRelay(t, Options{MaxTCPConns: 3, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	e := addForward(t, r, backend.TCP, backendtest.Echo(t, backend.TCP))

	var held []*net.TCPConn
	for i := range 3 {
		c, ok := holdTCP(t, e.Listen)
		if !ok {
			t.Fatalf("client %d of 3 refused", i+1)
		}
		held = append(held, c)
	}
	for range 3 {
		if _, ok := holdTCP(t, e.Listen); ok {
			t.Fatalf("a fourth client carried beyond the cap of 3 (%d sides tracked)", r.conns(t, e.Key()))
		}
	}
	if n := r.conns(t, e.Key()); n != 6 {
		t.Fatalf("%d sides tracked, want 6: three clients and their targets", n)
	}
	// Three refusals, one line: a flood refused at the cap is not a
	// flood of logs.
	if n := strings.Count(logs.String(), "this forward carries as many clients as it may"); n != 1 {
		t.Errorf("%d log lines for 3 refused clients, want 1:\n%s", n, logs.String())
	}
	roundTripTCP(t, held[0], "still carried")
	held[1].Close()
	waitFor(t, "the ended client's room", func() bool { return r.conns(t, e.Key()) == 4 })
	if _, ok := holdTCP(t, e.Listen); !ok {
		t.Fatal("a client refused after one of three ended")
	}
}

// TestClientBudgetIsRelayWide: MaxClients caps the connections and flows
// of every forward together, so a flood spread over many forwards is
// bounded too; what one forward gives back another may take.
func TestClientBudgetIsRelayWide(t *testing.T) {
	r := newRelay(t, Options{MaxClients: 3})
	a := addForward(t, r, backend.TCP, backendtest.Echo(t, backend.TCP))
	b := addForward(t, r, backend.TCP, backendtest.Echo(t, backend.TCP))
	u := addForward(t, r, backend.UDP, backendtest.Echo(t, backend.UDP))

	first, ok := holdTCP(t, a.Listen)
	if !ok {
		t.Fatal("first client refused")
	}
	if _, ok := holdTCP(t, a.Listen); !ok {
		t.Fatal("second client refused")
	}
	third := dialUDP(t, u.Listen)
	roundTrip(t, third, "third")
	if _, ok := holdTCP(t, b.Listen); ok {
		t.Fatal("a fourth client carried, by another forward, beyond the relay's cap of 3")
	}
	extra := dialUDP(t, u.Listen)
	if _, err := extra.Write([]byte("extra")); err != nil {
		t.Fatal(err)
	}
	// Datagrams are read in order: once a later one of the carried flow
	// has come back, extra's has been handled.
	roundTrip(t, third, "third again")
	for _, f := range r.flows(t, u.Key()) {
		if f == localAddr(extra) {
			t.Fatal("a flow opened beyond the relay's cap of 3")
		}
	}
	first.Close()
	waitFor(t, "a carried client on the other forward", func() bool {
		_, ok := holdTCP(t, b.Listen)
		return ok
	})
}

// roundTripTCP writes msg and reads it back through an echo.
func roundTripTCP(t *testing.T, c *net.TCPConn, msg string) {
	t.Helper()
	if _, err := io.WriteString(c, msg); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil || string(got) != msg {
		t.Fatalf("echo = %q, %v; want %q", got, err, msg)
	}
}

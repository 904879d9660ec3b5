package backendtest

import (
	"io"
	"net"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/wslfwd/wslfwd/hostd-windows/backend"
)

// manyAdds is the size of the suite's large batch.
const manyAdds = 64

// unknownProtocol is a protocol no backend carries.
const unknownProtocol backend.Protocol = "sctp"

// Run runs the conformance suite against the harness's backend.
func Run(t *testing.T, h Harness) {
	h.check(t)
	t.Run("Supports", func(t *testing.T) { testSupports(t, h) })
	t.Run("Durable", func(t *testing.T) { testDurable(t, h) })
	t.Run("ListEmpty", func(t *testing.T) { start(t, h).wantList() })
	eachProtocol(t, h, "AddList", testAddList)
	eachProtocol(t, h, "AddRemove", testAddRemove)
	eachProtocol(t, h, "AddExisting", testAddExisting)
	eachProtocol(t, h, "AddOverOtherTarget", testAddOverOtherTarget)
	eachProtocol(t, h, "RemoveMissing", testRemoveMissing)
	eachProtocol(t, h, "RemoveOtherTarget", testRemoveOtherTarget)
	eachProtocol(t, h, "Retarget", testRetarget)
	eachProtocol(t, h, "Invalid", testInvalid)
	eachProtocol(t, h, "PortInUse", testPortInUse)
	eachProtocol(t, h, "Foreign", testForeign)
	eachProtocol(t, h, "Close", testClose)
	t.Run("ManyAdds", func(t *testing.T) { testManyAdds(t, h) })
	t.Run("Unsupported", func(t *testing.T) { testUnsupported(t, h) })
	t.Run("PartialFailure", func(t *testing.T) { testPartialFailure(t, h) })
}

func eachProtocol(t *testing.T, h Harness, name string, test func(*testing.T, Harness, backend.Protocol)) {
	t.Run(name, func(t *testing.T) {
		for _, p := range h.Protocols {
			t.Run(string(p), func(t *testing.T) { test(t, h, p) })
		}
	})
}

// unsupported returns the protocols the backend does not carry.
func unsupported(h Harness) []backend.Protocol {
	var out []backend.Protocol
	for _, p := range []backend.Protocol{backend.TCP, backend.UDP, unknownProtocol} {
		if !slices.Contains(h.Protocols, p) {
			out = append(out, p)
		}
	}
	return out
}

func testSupports(t *testing.T, h Harness) {
	b := start(t, h).b
	if b.Name() == "" {
		t.Error("Name is empty")
	}
	for _, p := range h.Protocols {
		if !b.Supports(p) {
			t.Errorf("Supports(%q) = false, want true", p)
		}
	}
	for _, p := range unsupported(h) {
		if b.Supports(p) {
			t.Errorf("Supports(%q) = true, want false", p)
		}
	}
}

// testDurable: the backend's Durable claim agrees with the harness, whose
// PersistsAcrossRestart testClose checks against the store. A durable
// claim decides whether the daemon records ownership on disk: a backend
// that wrongly says false would have its own entries taken for foreign
// ones after a restart.
func testDurable(t *testing.T, h Harness) {
	if got := start(t, h).b.Durable(); got != h.PersistsAcrossRestart {
		t.Errorf("Durable() = %v, but entries survive Close: %v (PersistsAcrossRestart)", got, h.PersistsAcrossRestart)
	}
}

func testAddList(t *testing.T, h Harness, p backend.Protocol) {
	s := start(t, h)
	e := s.entry(p)
	s.add(e)
	s.wantList(e)
	if h.CarriesTraffic {
		checkTraffic(t, e)
	}
}

func testAddRemove(t *testing.T, h Harness, p backend.Protocol) {
	s := start(t, h)
	e1, e2 := s.entry(p), s.entry(p)
	s.add(e1, e2)
	s.mustApply(backend.Batch{Remove: []backend.Entry{e1}})
	s.wantList(e2)
	if h.CarriesTraffic {
		checkFree(t, e1)
		checkTraffic(t, e2)
	}
	s.mustApply(backend.Batch{Remove: []backend.Entry{e2}})
	s.wantList()
}

// testAddExisting: adding an entry that exists fails with ErrExists and
// changes nothing.
func testAddExisting(t *testing.T, h Harness, p backend.Protocol) {
	s := start(t, h)
	e := s.entry(p)
	s.add(e)
	s.wantFailures(s.apply(backend.Batch{Add: []backend.Entry{e}}), want{entry: e, is: backend.ErrExists})
	s.wantList(e)
	if h.CarriesTraffic {
		checkTraffic(t, e)
	}
}

// testAddOverOtherTarget: a key holding a different target is never
// overwritten; retargeting takes a removal.
func testAddOverOtherTarget(t *testing.T, h Harness, p backend.Protocol) {
	s := start(t, h)
	e := s.entry(p)
	s.add(e)
	other := s.retarget(e)
	s.wantFailures(s.apply(backend.Batch{Add: []backend.Entry{other}}), want{entry: other, is: backend.ErrPortInUse})
	s.wantList(e)
}

// testRemoveMissing: removal is idempotent.
func testRemoveMissing(t *testing.T, h Harness, p backend.Protocol) {
	s := start(t, h)
	kept, gone := s.entry(p), s.entry(p)
	s.add(kept)
	s.mustApply(backend.Batch{Remove: []backend.Entry{gone}})
	s.add(gone)
	s.mustApply(backend.Batch{Remove: []backend.Entry{gone}})
	s.mustApply(backend.Batch{Remove: []backend.Entry{gone}})
	s.wantList(kept)
}

// testRemoveOtherTarget: a removal naming a different target than the key
// holds fails and leaves the entry.
func testRemoveOtherTarget(t *testing.T, h Harness, p backend.Protocol) {
	s := start(t, h)
	e := s.entry(p)
	s.add(e)
	other := s.retarget(e)
	s.wantFailures(s.apply(backend.Batch{Remove: []backend.Entry{other}}), want{entry: other, remove: true})
	s.wantList(e)
	if h.CarriesTraffic {
		checkTraffic(t, e)
	}
}

// testRetarget: removing and adding one key in one batch moves it.
func testRetarget(t *testing.T, h Harness, p backend.Protocol) {
	s := start(t, h)
	e := s.entry(p)
	s.add(e)
	moved := s.retarget(e)
	s.mustApply(backend.Batch{Remove: []backend.Entry{e}, Add: []backend.Entry{moved}})
	s.wantList(moved)
	if h.CarriesTraffic {
		checkTraffic(t, moved)
	}
}

// testInvalid: malformed entries fail one by one and change nothing.
func testInvalid(t *testing.T, h Harness, p backend.Protocol) {
	s := start(t, h)
	kept := s.entry(p)
	s.add(kept)

	noListenPort := s.entry(p)
	noListenPort.Listen = netip.AddrPortFrom(h.ListenAddr, 0)
	noConnectPort := s.entry(p)
	noConnectPort.Connect = netip.AddrPortFrom(noConnectPort.Connect.Addr(), 0)
	noConnectAddr := s.entry(p)
	noConnectAddr.Connect = netip.AddrPortFrom(netip.Addr{}, noConnectAddr.Connect.Port())
	valid := s.entry(p)

	got := s.apply(backend.Batch{Add: []backend.Entry{noListenPort, noConnectPort, noConnectAddr, valid}})
	s.wantFailures(got, want{entry: noListenPort}, want{entry: noConnectPort}, want{entry: noConnectAddr})
	s.wantList(kept, valid)
}

func testPortInUse(t *testing.T, h Harness, p backend.Protocol) {
	if h.Occupy == nil {
		t.Skip("the harness cannot occupy a port (Harness.Occupy is nil)")
	}
	s := start(t, h)
	to := s.target(p)
	busy := backend.Entry{Protocol: p, Listen: netip.AddrPortFrom(h.ListenAddr, h.Occupy(t, p)), Connect: to}
	s.wantFailures(s.apply(backend.Batch{Add: []backend.Entry{busy}}), want{entry: busy, is: backend.ErrPortInUse})
	s.wantList()
}

// testForeign: entries the daemon does not own are listed and never
// touched.
func testForeign(t *testing.T, h Harness, p backend.Protocol) {
	if h.Foreign == nil {
		t.Skip("the backend has no entries but its own (Harness.Foreign is nil)")
	}
	s := start(t, h)
	foreign := s.entry(p)
	h.Foreign(t, foreign)
	s.wantList(foreign)

	own := s.entry(p)
	s.add(own)
	s.wantList(foreign, own)

	over := s.retarget(foreign)
	s.wantFailures(s.apply(backend.Batch{Add: []backend.Entry{over}}), want{entry: over, is: backend.ErrPortInUse})
	s.mustApply(backend.Batch{Remove: []backend.Entry{own}})
	s.wantList(foreign)
}

// testClose: Close stops all the backend's goroutines, with a forward
// carrying a connection or flow at the time; a persisting backend's
// entries survive it, and so does what they carry (the kernel's
// connections, like portproxy's, are not the daemon's), while a relay's
// go with it.
func testClose(t *testing.T, h Harness, p backend.Protocol) {
	// The target's goroutines start before the count.
	to := newTarget(t, h, p)
	before := runtime.NumGoroutine()

	s := start(t, h)
	e := backend.Entry{Protocol: p, Listen: netip.AddrPortFrom(h.ListenAddr, s.port()), Connect: to}
	s.add(e)
	var open net.Conn
	if h.CarriesTraffic {
		open = openThrough(t, e)
	}
	s.close()

	switch {
	case open == nil:
	case h.PersistsAcrossRestart:
		checkStillOpen(t, e, open)
		open.Close() // its echo server's goroutine is not the backend's
	default:
		checkClosed(t, open)
	}
	waitGoroutines(t, before)

	s.reopen()
	if h.PersistsAcrossRestart {
		s.wantList(e)
		return
	}
	s.wantList()
	if h.CarriesTraffic {
		checkFree(t, e)
	}
}

func testManyAdds(t *testing.T, h Harness) {
	s := start(t, h)
	var es []backend.Entry
	targets := make([]netip.AddrPort, manyAdds)
	for i := range targets {
		targets[i] = s.target(h.Protocols[i%len(h.Protocols)])
	}
	for i, to := range targets {
		p := h.Protocols[i%len(h.Protocols)]
		es = append(es, backend.Entry{Protocol: p, Listen: netip.AddrPortFrom(h.ListenAddr, s.port()), Connect: to})
	}
	s.add(es...)
	s.wantList(es...)
	if h.CarriesTraffic {
		for _, e := range es {
			checkTraffic(t, e)
		}
	}
	s.mustApply(backend.Batch{Remove: es})
	s.wantList()
}

func testUnsupported(t *testing.T, h Harness) {
	s := start(t, h)
	kept := s.entry(h.Protocols[0])
	s.add(kept)
	for _, p := range unsupported(h) {
		t.Run(string(p), func(t *testing.T) {
			bad := backend.Entry{Protocol: p, Listen: netip.AddrPortFrom(h.ListenAddr, s.port()), Connect: kept.Connect}
			good := s.entry(h.Protocols[0])
			s.wantFailures(s.apply(backend.Batch{Add: []backend.Entry{bad, good}}), want{entry: bad, is: backend.ErrUnsupported})
			s.wantList(kept, good)
			s.mustApply(backend.Batch{Remove: []backend.Entry{good}})
		})
	}
}

// testPartialFailure: a batch mixing good and bad changes applies the good
// ones and reports exactly the bad ones.
func testPartialFailure(t *testing.T, h Harness) {
	s := start(t, h)
	p := h.Protocols[0]
	removed, kept := s.entry(p), s.entry(p)
	s.add(removed, kept)

	wrongRemove := s.retarget(kept)
	ok1, ok2 := s.entry(p), s.entry(p)
	unsup := backend.Entry{Protocol: unknownProtocol, Listen: netip.AddrPortFrom(h.ListenAddr, s.port()), Connect: ok1.Connect}
	invalid := s.entry(p)
	invalid.Listen = netip.AddrPortFrom(h.ListenAddr, 0)
	wants := []want{
		{entry: wrongRemove, remove: true},
		{entry: unsup, is: backend.ErrUnsupported},
		{entry: invalid},
	}
	adds := []backend.Entry{ok1, unsup, invalid}
	if h.Occupy != nil {
		to := s.target(p)
		busy := backend.Entry{Protocol: p, Listen: netip.AddrPortFrom(h.ListenAddr, h.Occupy(t, p)), Connect: to}
		adds = append(adds, busy)
		wants = append(wants, want{entry: busy, is: backend.ErrPortInUse})
	}
	adds = append(adds, ok2)

	got := s.apply(backend.Batch{Remove: []backend.Entry{removed, wrongRemove}, Add: adds})
	s.wantFailures(got, wants...)
	s.wantList(kept, ok1, ok2)
	if h.CarriesTraffic {
		for _, e := range []backend.Entry{kept, ok1, ok2} {
			checkTraffic(t, e)
		}
	}
}

// openThrough opens a connection (TCP) or flow (UDP) through the entry and
// checks that it carries an echo, leaving it open.
func openThrough(t *testing.T, e backend.Entry) net.Conn {
	t.Helper()
	at := dialAddr(e)
	c, err := net.DialTimeout(string(e.Protocol), at.String(), trafficTimeout)
	if err != nil {
		t.Fatalf("connect through %s: %v", e, err)
	}
	t.Cleanup(func() { c.Close() })
	msg := []byte("still open")
	switch e.Protocol {
	case backend.UDP:
		err = udpRoundTrip(c.(*net.UDPConn), msg)
	default:
		c.SetDeadline(time.Now().Add(trafficTimeout))
		if _, err = c.Write(msg); err == nil {
			buf := make([]byte, len(msg))
			_, err = io.ReadFull(c, buf)
		}
	}
	if err != nil {
		t.Fatalf("echo through %s: %v", e, err)
	}
	return c
}

// checkStillOpen checks that a connection or flow opened through a
// persisting backend's entry still carries an echo after Close.
func checkStillOpen(t *testing.T, e backend.Entry, c net.Conn) {
	t.Helper()
	msg := []byte("after close")
	var err error
	if uc, ok := c.(*net.UDPConn); ok {
		err = udpRoundTrip(uc, msg)
	} else {
		c.SetDeadline(time.Now().Add(trafficTimeout))
		if _, err = c.Write(msg); err == nil {
			_, err = io.ReadFull(c, make([]byte, len(msg)))
		}
	}
	if err != nil {
		t.Errorf("a connection through %s ended with the backend, whose entries persist: %v", e, err)
	}
}

// checkClosed checks that the backend ended a TCP connection it carried.
// A UDP flow has no end a client could see.
func checkClosed(t *testing.T, c net.Conn) {
	t.Helper()
	if _, ok := c.(*net.UDPConn); ok {
		return
	}
	const wait = 10 * time.Second
	c.SetReadDeadline(time.Now().Add(wait))
	if n, err := c.Read(make([]byte, 1)); err == nil {
		t.Errorf("connection through a closed backend still carries data (%d byte read)", n)
	} else if os.IsTimeout(err) {
		t.Errorf("connection through a closed backend still open after %v", wait)
	}
}

// checkFree checks that nothing listens on the entry's address any more,
// by binding it.
func checkFree(t *testing.T, e backend.Entry) {
	t.Helper()
	var (
		c   interface{ Close() error }
		err error
	)
	switch e.Protocol {
	case backend.UDP:
		c, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(e.Listen))
	default:
		c, err = net.ListenTCP("tcp", net.TCPAddrFromAddrPort(e.Listen))
	}
	if err != nil {
		t.Errorf("%s is gone, but its port is still bound: %v", e, err)
		return
	}
	c.Close()
}

// waitGoroutines waits until no more goroutines run than before, and
// fails the test with their stacks if that does not happen soon.
func waitGoroutines(t *testing.T, before int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("%d goroutines run after Close, %d before the backend started:\n%s", runtime.NumGoroutine(), before, buf)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

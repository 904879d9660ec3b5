//go:build linux

package adversary

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/wslfwd/wslfwd/internal/waitfor"
	"github.com/wslfwd/wslfwd/lab/netlab"
)

// handshakes counts, inside one namespace, the handshake packets between
// one client address and one server port, per connection (the client's
// port): the client's SYNs as they come in, and the server's SYN-ACKs as
// they go out, each in an nftables set with a counter on every element.
// A SYN counted twice was dropped and sent again by the client; a SYN-ACK
// counted twice was sent again because the client's ACK was dropped. A
// listener drops both while its accept queue is full, and TCP sends them
// again only a second later.
//
// The namespace-wide ListenOverflows counter says the same of every
// client at once, attackers included; this says it of one client's
// connections only.
type handshakes struct {
	ns          *netlab.NS
	table       *nftables.Table
	syn, synAck *nftables.Set
}

// handshake is what handshakes saw of one connection.
type handshake struct {
	syns, synAcks uint64
}

// resent reports whether a packet of the handshake was sent again.
func (h handshake) resent() bool { return h.syns > 1 || h.synAcks > 1 }

// TCP header flags, as the byte at offset 13 holds them.
const (
	tcpSYN = 0x02
	tcpACK = 0x10
)

// watchHandshakes starts counting, in ns, the handshakes from client to
// server. The table is removed when the test ends.
func watchHandshakes(t *testing.T, ns *netlab.NS, client netip.Addr, server netip.AddrPort) *handshakes {
	t.Helper()
	h := &handshakes{ns: ns, table: &nftables.Table{Family: nftables.TableFamilyINet, Name: "adversary-handshakes"}}
	h.syn = h.set("syn")
	h.synAck = h.set("synack")
	port := binary.BigEndian.AppendUint16(nil, server.Port())
	err := h.do(func(c *nftables.Conn) error {
		c.AddTable(h.table)
		if err := c.AddSet(h.syn, nil); err != nil {
			return err
		}
		if err := c.AddSet(h.synAck, nil); err != nil {
			return err
		}
		in := c.AddChain(h.chain("in", nftables.ChainHookInput))
		c.AddRule(&nftables.Rule{Table: h.table, Chain: in, Exprs: count(client, server.Addr(), 2, port, tcpSYN, 0, h.syn)})
		out := c.AddChain(h.chain("out", nftables.ChainHookOutput))
		c.AddRule(&nftables.Rule{Table: h.table, Chain: out, Exprs: count(server.Addr(), client, 0, port, tcpSYN|tcpACK, 2, h.synAck)})
		return nil
	})
	if err != nil {
		t.Fatalf("count handshakes in %s: %v", ns.Name, err)
	}
	t.Cleanup(func() {
		if err := h.do(func(c *nftables.Conn) error { c.DelTable(h.table); return nil }); err != nil {
			t.Errorf("remove the handshake counters from %s: %v", ns.Name, err)
		}
	})
	return h
}

// set is a dynamic set of TCP ports, each with a counter. A dynamic set
// needs a size: with none the kernel adds no element from the packet path.
func (h *handshakes) set(name string) *nftables.Set {
	return &nftables.Set{Table: h.table, Name: name, KeyType: nftables.TypeInetService,
		Dynamic: true, Counter: true, Size: 1 << 16}
}

func (h *handshakes) chain(name string, hook *nftables.ChainHook) *nftables.Chain {
	accept := nftables.ChainPolicyAccept
	return &nftables.Chain{Name: name, Table: h.table, Type: nftables.ChainTypeFilter,
		Hooknum: hook, Priority: nftables.ChainPriorityFilter, Policy: &accept}
}

// count is `ip saddr src ip daddr dst tcp <portAt> port tcp flags &
// (syn|ack) == flags add @set { tcp <keyAt> }`, with portAt and keyAt
// the offsets of the matched port and of the key in the TCP header.
func count(src, dst netip.Addr, portAt uint32, port []byte, flags byte, keyAt uint32, set *nftables.Set) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.NFPROTO_IPV4}},
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_TCP}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: src.AsSlice()},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: dst.AsSlice()},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: portAt, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: port},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 13, Len: 1},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 1, Mask: []byte{tcpSYN | tcpACK}, Xor: []byte{0}},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{flags}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: keyAt, Len: 2},
		&expr.Dynset{SrcRegKey: 1, SetName: set.Name, Operation: unix.NFT_DYNSET_OP_ADD},
	}
}

// take returns what was counted since the last take, by client port, and
// starts counting afresh.
func (h *handshakes) take(t *testing.T) map[uint16]handshake {
	t.Helper()
	seen := map[uint16]handshake{}
	err := h.do(func(c *nftables.Conn) error {
		for _, s := range []*nftables.Set{h.syn, h.synAck} {
			elems, err := c.GetSetElements(s)
			if err != nil {
				return fmt.Errorf("read set %s: %w", s.Name, err)
			}
			for _, e := range elems {
				if len(e.Key) != 2 || e.Counter == nil {
					return fmt.Errorf("set %s holds an element without a port or a counter: %+v", s.Name, e)
				}
				p := binary.BigEndian.Uint16(e.Key)
				hs := seen[p]
				if s == h.syn {
					hs.syns += e.Counter.Packets
				} else {
					hs.synAcks += e.Counter.Packets
				}
				seen[p] = hs
			}
			c.FlushSet(s)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("read the handshake counters in %s: %v", h.ns.Name, err)
	}
	return seen
}

// do runs fn with a netlink connection into h's namespace and sends what
// it queued.
func (h *handshakes) do(fn func(c *nftables.Conn) error) error {
	return h.ns.Do(func() error {
		c, err := nftables.New()
		if err != nil {
			return err
		}
		if err := fn(c); err != nil {
			return err
		}
		return c.Flush()
	})
}

// delay is how long TCP waited before sending the handshake's packets
// again: a SYN's and a SYN-ACK's first timeout is a second
// (TCP_TIMEOUT_INIT), doubled at each resend.
func (h handshake) delay() time.Duration { return resendWait(h.syns) + resendWait(h.synAcks) }

func resendWait(sent uint64) time.Duration {
	if sent <= 1 {
		return 0
	}
	return time.Second * time.Duration(1<<min(sent-1, 16)-1)
}

// listenOverflows reads TcpExt ListenOverflows in ns: how many handshakes
// a listener there dropped because its accept queue was full.
func listenOverflows(t *testing.T, ns *netlab.NS) int64 {
	t.Helper()
	var b []byte
	err := ns.Do(func() (err error) {
		b, err = os.ReadFile("/proc/thread-self/net/netstat")
		return err
	})
	if err != nil {
		t.Fatalf("TCP counters of %s: %v", ns.Name, err)
	}
	lines := strings.Split(string(b), "\n")
	for i := 0; i+1 < len(lines); i += 2 {
		names, values := strings.Fields(lines[i]), strings.Fields(lines[i+1])
		if len(names) != len(values) || len(names) == 0 || names[0] != "TcpExt:" {
			continue
		}
		if j := slices.Index(names, "ListenOverflows"); j >= 0 {
			v, err := strconv.ParseInt(values[j], 10, 64)
			if err != nil {
				t.Fatalf("ListenOverflows %q: %v", values[j], err)
			}
			return v
		}
	}
	t.Fatalf("no TcpExt ListenOverflows in the TCP counters of %s", ns.Name)
	return 0
}

// TestHandshakesCountAResentSYN makes a listener drop a client's SYN, as a
// full accept queue does under a flood, and checks that the counters see
// that connection's SYN twice and the other connection's handshake once
// each way. Linux lets a listener with a backlog of 0 queue one
// connection and drops SYNs while its accept queue is full.
func TestHandshakesCountAResentSYN(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: builds network namespaces")
	}
	t.Parallel()
	lab, err := netlab.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := lab.Close(); err != nil {
			t.Error(err)
		}
	})
	ns := lab.WinHost
	loopback := netip.MustParseAddr("127.0.0.1")
	ln, server := listenBacklog0(t, ns, loopback)
	watch := watchHandshakes(t, ns, loopback, server)

	first := connect(t, ns, server)
	overflows := listenOverflows(t, ns)
	second := connect(t, ns, server)
	waitfor.Cond(t, 5*time.Second, "the full queue to drop the second SYN", func() bool {
		return listenOverflows(t, ns) > overflows
	})
	fd, _, err := unix.Accept(ln)
	if err != nil {
		t.Fatalf("accept the first connection: %v", err)
	}
	unix.Close(fd)
	if err := connected(second, 5*time.Second); err != nil {
		t.Fatalf("the second connection, once the queue had room: %v", err)
	}

	seen := watch.take(t)
	want := map[uint16]handshake{
		localPort(t, first):  {syns: 1, synAcks: 1},
		localPort(t, second): {syns: 2, synAcks: 1},
	}
	if len(seen) != len(want) {
		t.Fatalf("counted %v, want %v", seen, want)
	}
	for p, w := range want {
		if seen[p] != w {
			t.Errorf("connection from port %d: counted %+v, want %+v", p, seen[p], w)
		}
	}
	if got := seen[localPort(t, second)].delay(); got != time.Second {
		t.Errorf("the dropped SYN's delay: %v, want 1s", got)
	}
	if seen[localPort(t, first)].resent() || !seen[localPort(t, second)].resent() {
		t.Errorf("resent: first %v, second %v; want false, true",
			seen[localPort(t, first)].resent(), seen[localPort(t, second)].resent())
	}
	if again := watch.take(t); len(again) != 0 {
		t.Errorf("counted %v after a take with no handshake since, want nothing", again)
	}
}

// listenBacklog0 opens a listener on addr in ns with a backlog of 0.
func listenBacklog0(t *testing.T, ns *netlab.NS, addr netip.Addr) (int, netip.AddrPort) {
	t.Helper()
	var fd int
	var at netip.AddrPort
	err := ns.Do(func() error {
		var err error
		fd, err = unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: addr.As4()}); err != nil {
			return err
		}
		if err := unix.Listen(fd, 0); err != nil {
			return err
		}
		at, err = sockName(fd)
		return err
	})
	if fd > 0 {
		t.Cleanup(func() { unix.Close(fd) })
	}
	if err != nil {
		t.Fatalf("listen in %s: %v", ns.Name, err)
	}
	return fd, at
}

// connect starts a connection to addr from ns without waiting for it.
func connect(t *testing.T, ns *netlab.NS, addr netip.AddrPort) int {
	t.Helper()
	fd := -1
	err := ns.Do(func() error {
		var err error
		fd, err = unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
		if err != nil {
			return err
		}
		err = unix.Connect(fd, &unix.SockaddrInet4{Port: int(addr.Port()), Addr: addr.Addr().As4()})
		if errors.Is(err, unix.EINPROGRESS) {
			return nil
		}
		return err
	})
	if fd >= 0 {
		t.Cleanup(func() { unix.Close(fd) })
	}
	if err != nil {
		t.Fatalf("connect to %v in %s: %v", addr, ns.Name, err)
	}
	return fd
}

// connected waits up to d for fd's connect to finish and returns its
// outcome.
func connected(fd int, d time.Duration) error {
	end := time.Now().Add(d)
	for {
		ts := unix.NsecToTimespec(max(0, time.Until(end).Nanoseconds()))
		n, err := unix.Ppoll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}, &ts, nil)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			return err
		case n == 0:
			return errors.New("not connected within " + d.String())
		}
		soerr, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
		if err != nil {
			return err
		}
		if soerr != 0 {
			return unix.Errno(soerr)
		}
		return nil
	}
}

func localPort(t *testing.T, fd int) uint16 {
	t.Helper()
	at, err := sockName(fd)
	if err != nil {
		t.Fatal(err)
	}
	return at.Port()
}

func sockName(fd int) (netip.AddrPort, error) {
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return netip.AddrPort{}, err
	}
	in4, ok := sa.(*unix.SockaddrInet4)
	if !ok {
		return netip.AddrPort{}, errors.New("not an IPv4 socket")
	}
	return netip.AddrPortFrom(netip.AddrFrom4(in4.Addr), uint16(in4.Port)), nil
}

//go:build linux

// Package sockdiag lists listening sockets through NETLINK_SOCK_DIAG.
//
// The request carries a state filter, so the kernel returns only TCP
// sockets in LISTEN and UDP sockets in CLOSE (bound, not connected): a scan
// costs the same with ten thousand established connections as with none.
// Replies are parsed in place from one reused buffer; a scan allocates
// nothing once its result slice has grown to size.
package sockdiag

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"runtime"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/wslfwd/wslfwd/agent-linux/rawio"
)

// Protocol is a transport protocol.
type Protocol uint8

// Protocols a Socket can have.
const (
	TCP Protocol = unix.IPPROTO_TCP
	UDP Protocol = unix.IPPROTO_UDP
)

func (p Protocol) String() string {
	switch p {
	case TCP:
		return "tcp"
	case UDP:
		return "udp"
	}
	return fmt.Sprintf("proto(%d)", uint8(p))
}

// Socket is one listening socket.
type Socket struct {
	Protocol Protocol
	Addr     netip.Addr // local address; IPv4 sockets carry a 4-byte address
	Port     uint16
	Inode    uint64
	UID      uint32
	// V6Only is IPV6_V6ONLY of an IPv6 socket: a "::" socket without it also
	// accepts IPv4.
	V6Only bool
	// State is the TCP state of a socket Lookup found (tcpListen,
	// tcpEstablished, ...); scans leave it zero.
	State uint8
}

// Kernel ABI constants not in x/sys/unix.
const (
	sockDiagByFamily = 20 // SOCK_DIAG_BY_FAMILY
	tcpDiagGetSock   = 18 // TCPDIAG_GETSOCK: the older request, for both families at once
	tcpListen        = 10 // TCP_LISTEN
	tcpSynRecv       = 3  // TCP_SYN_RECV: a request socket, as inet_diag reports it
	tcpNewSynRecv    = 12 // TCP_NEW_SYN_RECV
	tcpClose         = 7  // TCP_CLOSE: an unconnected UDP socket
	attrSKV6Only     = 11 // INET_DIAG_SKV6ONLY

	nlmsgHdrLen = 16
	reqLen      = 56 // struct inet_diag_req_v2
	compatLen   = 60 // struct inet_diag_req
	msgLen      = 72 // struct inet_diag_msg
)

// Scanner lists sockets in one network namespace. It is not safe for
// concurrent use: its buffers are reused by every Scan.
type Scanner struct {
	f   *os.File      // the non-blocking netlink socket, in the netpoller
	raw *rawio.Socket // f's reads and writes
	seq uint32
	req [nlmsgHdrLen + compatLen]byte
	buf []byte
	// both is the request type that dumps TCP of both families at once,
	// TCPDIAG_GETSOCK, or 0 once the kernel refused it: TCP is then asked
	// for one family at a time too.
	both uint16
}

// Open returns a Scanner of the calling thread's network namespace.
func Open() (*Scanner, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return nil, fmt.Errorf("open sock_diag netlink socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("bind sock_diag netlink socket: %w", err)
	}
	f, raw, err := rawio.NewFile(fd, "sock_diag netlink socket")
	if err != nil {
		return nil, err
	}
	// The kernel sizes dump messages up to 32 KiB for a reader with a big
	// enough buffer; twice that leaves room.
	return &Scanner{f: f, raw: raw, buf: make([]byte, 64<<10), both: tcpDiagGetSock}, nil
}

// OpenAt returns a Scanner of the network namespace ns. A netlink socket
// belongs to the namespace it was created in, so the socket is made on a
// thread briefly switched into ns.
func OpenAt(ns netns.NsHandle) (*Scanner, error) {
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("get current namespace: %w", err)
	}
	defer orig.Close()
	if err := netns.Set(ns); err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("enter namespace: %w", err)
	}
	s, openErr := Open()
	if err := netns.Set(orig); err != nil {
		// The thread stays locked, so Go discards it rather than reuse it
		// in the wrong namespace.
		if s != nil {
			s.Close()
		}
		return nil, fmt.Errorf("return to the original namespace: %w", err)
	}
	runtime.UnlockOSThread()
	return s, openErr
}

// Close closes the netlink socket.
func (s *Scanner) Close() error { return s.f.Close() }

// Scan appends every TCP socket in LISTEN and every unconnected UDP socket,
// IPv4 and IPv6, to dst[:0] and returns it.
func (s *Scanner) Scan(dst []Socket) ([]Socket, error) {
	dst = dst[:0]
	var err error
	for _, p := range [...]Protocol{TCP, UDP} {
		if dst, err = s.ScanSome(dst, Query{Protocol: p}); err != nil {
			return dst, err
		}
	}
	return dst, nil
}

// Query narrows a scan to one protocol, and optionally to one family and
// port.
type Query struct {
	Protocol Protocol
	Family   uint8  // unix.AF_INET or AF_INET6; 0 for both
	Port     uint16 // 0 for every port
}

// ScanSome appends the sockets Scan would list that match q to dst. The
// kernel applies the port filter, but still walks its whole listening
// table: a narrow scan saves the copying and parsing, not the walk.
//
// Every request walks the whole table of its protocol, the sockets of
// every network namespace included, so TCP of both families is asked for
// in one request where the kernel allows: the older TCPDIAG_GETSOCK
// request, which the kernel keeps for compatibility, dumps both families
// (SOCK_DIAG_BY_FAMILY names one). With a thousand listeners that saves
// about a tenth of a scan. UDP has no such request.
func (s *Scanner) ScanSome(dst []Socket, q Query) ([]Socket, error) {
	if q.Protocol == TCP && q.Family == 0 && s.both != 0 {
		n := len(dst)
		out, err := s.dump(dst, s.compatRequest(q.Port), TCP)
		if err == nil {
			return out, nil
		}
		// Refused, or failed part way: ask again, by family, from now on.
		s.both = 0
		dst = out[:n]
	}
	states := uint32(1 << tcpListen)
	if q.Protocol == UDP {
		states = 1 << tcpClose
	}
	var err error
	for _, family := range [...]uint8{unix.AF_INET, unix.AF_INET6} {
		if q.Family != 0 && q.Family != family {
			continue
		}
		dst, err = s.dump(dst, s.request(family, q.Protocol, states, q.Port), q.Protocol)
		if err != nil {
			fam := "ipv4"
			if family == unix.AF_INET6 {
				fam = "ipv6"
			}
			return dst, fmt.Errorf("sock_diag dump of %s %s sockets: %w", fam, q.Protocol, err)
		}
	}
	return dst, nil
}

// request builds an inet_diag_req_v2 dump request for family, proto and
// states; a non-zero port limits it to sockets with that local port.
func (s *Scanner) request(family uint8, proto Protocol, states uint32, port uint16) []byte {
	b := s.header(sockDiagByFamily, reqLen)
	r := b[nlmsgHdrLen:]
	r[0] = family
	r[1] = uint8(proto)
	// idiag_ext stays 0: the kernel always adds INET_DIAG_SKV6ONLY for IPv6
	// sockets in LISTEN or CLOSE, and its bit (1<<10) would not fit the
	// 8-bit field anyway.
	binary.NativeEndian.PutUint32(r[4:], states)
	binary.BigEndian.PutUint16(r[8:], port) // inet_diag_sockid.idiag_sport
	return b
}

// compatRequest builds a TCPDIAG_GETSOCK dump request (struct
// inet_diag_req) for TCP sockets in LISTEN of both families.
func (s *Scanner) compatRequest(port uint16) []byte {
	b := s.header(s.both, compatLen)
	r := b[nlmsgHdrLen:]
	r[0] = unix.AF_INET                                 // ignored by a dump, which answers for both families
	binary.BigEndian.PutUint16(r[4:], port)             // id.idiag_sport
	binary.NativeEndian.PutUint32(r[52:], 1<<tcpListen) // idiag_states
	return b
}

// header starts a dump request of type typ with a body of n bytes in the
// reused request buffer, under the next sequence number.
func (s *Scanner) header(typ uint16, n int) []byte {
	s.seq++
	b := s.req[:nlmsgHdrLen+n]
	clear(b)
	ne := binary.NativeEndian
	ne.PutUint32(b[0:], uint32(len(b)))
	ne.PutUint16(b[4:], typ)
	ne.PutUint16(b[6:], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	ne.PutUint32(b[8:], s.seq)
	return b
}

// dump sends the request req and appends the sockets of protocol proto
// it answers with.
func (s *Scanner) dump(dst []Socket, req []byte, proto Protocol) ([]Socket, error) {
	// Plain write and read: an unconnected netlink socket talks to the
	// kernel, and unlike sendto/recvfrom they allocate no socket address.
	// Raw ones (rawio): the kernel queues each part of the dump before the
	// call that asks for it returns, so they never wait, and the
	// scheduler's bookkeeping would cost about as much as the scan.
	if _, err := s.raw.Write(req); err != nil {
		return dst, fmt.Errorf("send request: %w", err)
	}
	for {
		n, err := s.raw.Read(s.buf)
		if err != nil {
			return dst, fmt.Errorf("receive: %w", err)
		}
		var done bool
		dst, done, err = s.parse(dst, s.buf[:n], proto)
		if err != nil || done {
			return dst, err
		}
	}
}

// parse appends the sockets in one datagram of netlink messages. done
// reports the end of the dump.
func (s *Scanner) parse(dst []Socket, b []byte, proto Protocol) (_ []Socket, done bool, _ error) {
	ne := binary.NativeEndian
	for len(b) >= nlmsgHdrLen {
		l := int(ne.Uint32(b[0:]))
		typ := ne.Uint16(b[4:])
		seq := ne.Uint32(b[8:])
		if l < nlmsgHdrLen || l > len(b) {
			return dst, false, fmt.Errorf("malformed netlink message: length %d of %d bytes", l, len(b))
		}
		m := b[nlmsgHdrLen:l]
		b = b[min(nlmAlign(l), len(b)):]
		if seq != s.seq {
			continue // a late reply to an earlier, abandoned request
		}
		switch typ {
		case unix.NLMSG_DONE:
			return dst, true, nil
		case unix.NLMSG_ERROR:
			if len(m) < 4 {
				return dst, false, errors.New("truncated netlink error")
			}
			if e := int32(ne.Uint32(m)); e != 0 {
				return dst, false, unix.Errno(-e)
			}
			continue
		case sockDiagByFamily, tcpDiagGetSock: // a reply has its request's type
		default:
			continue
		}
		sk, ok := parseMsg(m, proto)
		if ok {
			dst = append(dst, sk)
		}
	}
	return dst, false, nil
}

// parseMsg decodes one inet_diag_msg and its attributes. Sockets with port
// zero or a remote address (a connected UDP socket the filter let through)
// are skipped.
func parseMsg(m []byte, proto Protocol) (Socket, bool) {
	if len(m) < msgLen {
		return Socket{}, false
	}
	ne := binary.NativeEndian
	family := m[0]
	id := m[4:52] // struct inet_diag_sockid
	sk := Socket{
		Protocol: proto,
		Port:     binary.BigEndian.Uint16(id[0:]),
		UID:      ne.Uint32(m[64:]),
		Inode:    uint64(ne.Uint32(m[68:])),
	}
	src, dstAddr := id[4:20], id[20:36]
	switch family {
	case unix.AF_INET:
		sk.Addr = netip.AddrFrom4([4]byte(src[:4]))
		if [4]byte(dstAddr[:4]) != [4]byte{} {
			return Socket{}, false
		}
	case unix.AF_INET6:
		sk.Addr = netip.AddrFrom16([16]byte(src))
		if [16]byte(dstAddr) != [16]byte{} {
			return Socket{}, false
		}
	default:
		return Socket{}, false
	}
	if sk.Port == 0 || binary.BigEndian.Uint16(id[2:]) != 0 {
		return Socket{}, false
	}
	for a := m[msgLen:]; len(a) >= 4; {
		l := int(ne.Uint16(a[0:]))
		typ := ne.Uint16(a[2:]) &^ (unix.NLA_F_NESTED | unix.NLA_F_NET_BYTEORDER)
		if l < 4 || l > len(a) {
			break
		}
		if typ == attrSKV6Only && l >= 5 {
			sk.V6Only = a[4] != 0
		}
		a = a[min(nlmAlign(l), len(a)):]
	}
	return sk, true
}

func nlmAlign(n int) int { return (n + 3) &^ 3 }

// Lookup finds the TCP socket in the namespace whose local address is
// local and whose remote address is remote (the other end of a
// connection from remote to local), or, if none, the listener that would
// take a connection to local. The Socket carries its inode and owner;
// found is false when there is neither.
func (s *Scanner) Lookup(local, remote netip.AddrPort) (_ Socket, found bool, err error) {
	family := uint8(unix.AF_INET)
	if !local.Addr().Is4() {
		family = unix.AF_INET6
	}
	b := s.header(sockDiagByFamily, reqLen)
	binary.NativeEndian.PutUint16(b[6:], unix.NLM_F_REQUEST) // one socket, not a dump
	r := b[nlmsgHdrLen:]
	r[0], r[1] = family, uint8(TCP)
	binary.NativeEndian.PutUint32(r[4:], ^uint32(0)) // any state
	id := r[8:56]                                    // struct inet_diag_sockid
	binary.BigEndian.PutUint16(id[0:], local.Port())
	binary.BigEndian.PutUint16(id[2:], remote.Port())
	putAddr(id[4:20], local.Addr())
	putAddr(id[20:36], remote.Addr())
	binary.NativeEndian.PutUint32(id[40:], ^uint32(0)) // INET_DIAG_NOCOOKIE
	binary.NativeEndian.PutUint32(id[44:], ^uint32(0))
	if _, err := s.raw.Write(b); err != nil {
		return Socket{}, false, fmt.Errorf("send lookup: %w", err)
	}
	n, err := s.raw.Read(s.buf)
	if err != nil {
		return Socket{}, false, fmt.Errorf("receive lookup: %w", err)
	}
	sk, found, err := s.parseLookup(s.buf[:n])
	sk.Protocol, sk.Addr, sk.Port = TCP, local.Addr(), local.Port()
	return sk, found, err
}

// Peer finds, in this namespace, the socket that holds the other end of
// the connection from remote to local: the connected socket, or, for a
// connection its listener has not taken yet (a request socket, which
// sock_diag reports as root's: TCP_DEFER_ACCEPT keeps one there until
// data comes), the listener, whose owner the connection would have. found
// is false when the other end is not in the namespace; a listener Lookup
// finds for want of a connection (one on a wildcard address matches any)
// is not the other end.
func (s *Scanner) Peer(local, remote netip.AddrPort) (_ Socket, found bool, err error) {
	sk, found, err := s.Lookup(local, remote)
	if err != nil || !found {
		return Socket{}, false, err
	}
	switch sk.State {
	case tcpListen:
		return Socket{}, false, nil
	case tcpSynRecv, tcpNewSynRecv:
		ln, found, err := s.Lookup(local, netip.AddrPortFrom(zeroOf(local.Addr()), 0))
		if err != nil || !found || ln.State != tcpListen {
			return Socket{}, false, fmt.Errorf("the listener of a connection not yet accepted on %s: found %v, %v", local, found, err)
		}
		return ln, true, nil
	}
	return sk, true, nil
}

// zeroOf is the unspecified address of a's family.
func zeroOf(a netip.Addr) netip.Addr {
	if a.Is4() {
		return netip.IPv4Unspecified()
	}
	return netip.IPv6Unspecified()
}

// parseLookup reads the answer to Lookup: the socket's message, or an
// error, ENOENT when there is no such socket.
func (s *Scanner) parseLookup(b []byte) (_ Socket, found bool, err error) {
	ne := binary.NativeEndian
	for len(b) >= nlmsgHdrLen {
		l := int(ne.Uint32(b[0:]))
		if l < nlmsgHdrLen || l > len(b) {
			return Socket{}, false, fmt.Errorf("malformed netlink message: length %d of %d bytes", l, len(b))
		}
		typ, seq, m := ne.Uint16(b[4:]), ne.Uint32(b[8:]), b[nlmsgHdrLen:l]
		b = b[min(nlmAlign(l), len(b)):]
		if seq != s.seq {
			continue
		}
		switch {
		case typ == unix.NLMSG_ERROR && len(m) >= 4:
			e := unix.Errno(-int32(ne.Uint32(m)))
			if e == unix.ENOENT {
				return Socket{}, false, nil
			}
			return Socket{}, false, e
		case typ == sockDiagByFamily && len(m) >= msgLen:
			return Socket{State: m[1], UID: ne.Uint32(m[64:]), Inode: uint64(ne.Uint32(m[68:]))}, true, nil
		}
	}
	return Socket{}, false, errors.New("no answer to the lookup")
}

// putAddr writes a into a 16-byte inet_diag address field: IPv4 in its
// first 4 bytes.
func putAddr(dst []byte, a netip.Addr) {
	if a.Is4() {
		b := a.As4()
		copy(dst, b[:])
		return
	}
	b := a.As16()
	copy(dst, b[:])
}

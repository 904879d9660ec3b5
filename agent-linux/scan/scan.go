//go:build linux

// Package scan reads a network namespace's state and listeners from the
// kernel: netinv for the network, sockdiag for sockets, procinfo for their
// owners. It is the agent's tracker.Source.
package scan

import (
	"fmt"

	"github.com/vishvananda/netns"

	"github.com/wslfwd/wslfwd/agent-linux/netinv"
	"github.com/wslfwd/wslfwd/agent-linux/procinfo"
	"github.com/wslfwd/wslfwd/agent-linux/sockdiag"
	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
)

// System reads one namespace. It is not safe for concurrent use (the
// tracker serialises its scans).
type System struct {
	inv   *netinv.Inventory
	sd    *sockdiag.Scanner
	procs *procinfo.Cache

	socks  []sockdiag.Socket
	inodes []uint64
	// prev holds the listeners of the previous scan by inode: an unchanged
	// socket reuses its message, so a quiet scan allocates little.
	prev, next map[uint64]seen
}

// seen is what a listener message was made from.
type seen struct {
	sock  sockdiag.Socket
	owner procinfo.Owner
	msg   *wslfwdv1.Listener
}

// Open reads the calling process's namespace.
func Open() (*System, error) {
	inv, err := netinv.Open()
	if err != nil {
		return nil, err
	}
	sd, err := sockdiag.Open()
	if err != nil {
		inv.Close()
		return nil, err
	}
	return newSystem(inv, sd), nil
}

// OpenAt reads the namespace ns (tests and the lab).
func OpenAt(ns netns.NsHandle) (*System, error) {
	inv, err := netinv.OpenAt(ns)
	if err != nil {
		return nil, err
	}
	sd, err := sockdiag.OpenAt(ns)
	if err != nil {
		inv.Close()
		return nil, err
	}
	return newSystem(inv, sd), nil
}

func newSystem(inv *netinv.Inventory, sd *sockdiag.Scanner) *System {
	return &System{inv: inv, sd: sd, procs: procinfo.New("/proc"),
		prev: map[uint64]seen{}, next: map[uint64]seen{}}
}

// Close releases the netlink sockets.
func (s *System) Close() error {
	s.sd.Close()
	return s.inv.Close()
}

// Inventory returns the network inventory, whose Run is the network
// change trigger.
func (s *System) Inventory() *netinv.Inventory { return s.inv }

// Network implements tracker.Source.
func (s *System) Network() (*wslfwdv1.NetworkState, error) { return s.inv.State() }

// Listeners implements tracker.Source. The messages it returns must not be
// modified: they are handed out again while their socket is unchanged.
func (s *System) Listeners() ([]*wslfwdv1.Listener, error) {
	var err error
	s.socks, err = s.sd.Scan(s.socks)
	if err != nil {
		return nil, err
	}
	s.inodes = s.inodes[:0]
	for _, sk := range s.socks {
		s.inodes = append(s.inodes, sk.Inode)
	}
	if err := s.procs.Resolve(s.inodes); err != nil {
		return nil, fmt.Errorf("find listener owners: %w", err)
	}
	out := make([]*wslfwdv1.Listener, 0, len(s.socks))
	clear(s.next)
	for _, sk := range s.socks {
		owner, _ := s.procs.Lookup(sk.Inode)
		p, ok := s.prev[sk.Inode]
		if !ok || p.sock != sk || p.owner != owner {
			p = seen{sock: sk, owner: owner, msg: toListener(sk, owner)}
		}
		s.next[sk.Inode] = p
		out = append(out, p.msg)
	}
	s.prev, s.next = s.next, s.prev
	return out, nil
}

func toListener(sk sockdiag.Socket, o procinfo.Owner) *wslfwdv1.Listener {
	fam := wslfwdv1.AddressFamily_ADDRESS_FAMILY_IPV4
	if sk.Addr.Is6() {
		fam = wslfwdv1.AddressFamily_ADDRESS_FAMILY_IPV6
	}
	return &wslfwdv1.Listener{
		Protocol:    protocol(sk.Protocol),
		Family:      fam,
		Listen:      sk.Addr.String(),
		Port:        uint32(sk.Port),
		Inode:       sk.Inode,
		Uid:         sk.UID,
		Pid:         uint32(o.PID),
		ProcessName: o.Comm,
		V6Only:      sk.V6Only,
	}
}

func protocol(p sockdiag.Protocol) wslfwdv1.Protocol {
	if p == sockdiag.UDP {
		return wslfwdv1.Protocol_PROTOCOL_UDP
	}
	return wslfwdv1.Protocol_PROTOCOL_TCP
}

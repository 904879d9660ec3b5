//go:build linux

// Package scan reads a network namespace's state and listeners from the
// kernel: netinv for the network, sockdiag for sockets, procinfo for their
// owners. It is the agent's tracker.Source.
package scan

import (
	"fmt"
	"slices"
	"time"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/wslfwd/wslfwd/agent-linux/netinv"
	"github.com/wslfwd/wslfwd/agent-linux/procinfo"
	"github.com/wslfwd/wslfwd/agent-linux/sockdiag"
	"github.com/wslfwd/wslfwd/agent-linux/tracker"
	"github.com/wslfwd/wslfwd/agent-linux/trigger"
	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
)

// System reads one namespace. It is not safe for concurrent use (the
// tracker serialises its scans).
type System struct {
	inv   *netinv.Inventory
	sd    *sockdiag.Scanner
	procs *procinfo.Cache

	socks  []sockdiag.Socket // what the latest read found
	inodes []uint64
	// last is what the last full read found, in the kernel's order. While
	// settled, nothing changed prev, procs or out since that read, so a
	// read that finds exactly last again returns out as it is.
	last    []sockdiag.Socket
	settled bool
	// prev holds the listeners as last read, by inode: an unchanged socket
	// reuses its message, so a quiet scan allocates nothing and writes no
	// map. Partial reads and events update it in place.
	prev map[uint64]*seen
	// searches goes off when owner searches the walk budget put off
	// may run (procinfo.Cache.Pending).
	searches *trigger.Alarm
	scans    uint64               // full reads so far: seen.scan of those the last one listed
	found    map[uint64]bool      // reused by ListenersIn
	out      []*wslfwdv1.Listener // Listeners' result, reused
}

// seen is what a listener message was made from.
type seen struct {
	sock  sockdiag.Socket
	owner procinfo.Owner
	msg   *wslfwdv1.Listener
	scan  uint64 // the last full read that listed it
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
		prev: map[uint64]*seen{}, found: map[uint64]bool{}, searches: trigger.NewAlarm()}
}

// OwnerSearches wakes a listener scan when the owners of listeners
// reported without one, because /proc walks were over their budget, may
// be searched for. Give it to the tracker's Listeners triggers.
func (s *System) OwnerSearches() trigger.Trigger { return s.searches }

// putOff sets the alarm of OwnerSearches if an owner search waits.
func (s *System) putOff() {
	if due, ok := s.procs.Pending(); ok {
		s.searches.Set(due)
	}
}

// Walked implements tracker.Walker: how long the owner searches' /proc
// walks took so far, which have a budget of their own.
func (s *System) Walked() time.Duration { return s.procs.Walked() }

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
// modified: they are handed out again while their socket is unchanged. The
// slice is reused by the next call.
func (s *System) Listeners() ([]*wslfwdv1.Listener, error) {
	var err error
	s.socks, err = s.sd.Scan(s.socks)
	if err != nil {
		return nil, err
	}
	if s.settled && slices.Equal(s.socks, s.last) && s.procs.Settled() {
		return s.out, nil // the common case of a periodic scan: no lookup per socket
	}
	s.settled = false
	s.inodes = s.inodes[:0]
	for _, sk := range s.socks {
		s.inodes = append(s.inodes, sk.Inode)
	}
	if err := s.procs.Resolve(s.inodes); err != nil {
		return nil, fmt.Errorf("find listener owners: %w", err)
	}
	s.putOff()
	clear(s.out)
	s.out = s.out[:0]
	s.scans++
	for _, sk := range s.socks {
		p := s.remember(sk)
		p.scan = s.scans
		s.out = append(s.out, p.msg)
	}
	// prev now has every socket listed, each once; more means some it
	// had are gone.
	if len(s.prev) > len(s.socks) {
		for ino, p := range s.prev {
			if p.scan != s.scans {
				delete(s.prev, ino)
			}
		}
	}
	s.last = append(s.last[:0], s.socks...)
	s.settled = true
	return s.out, nil
}

// ListenersIn implements tracker.Partial with a sock_diag dump narrowed to
// the scope. A socket found there that was not known before is owned by
// the scope's process, if it names one and that socket is the only new
// one (two processes may share a port); otherwise /proc is searched.
func (s *System) ListenersIn(sc tracker.Scope) ([]*wslfwdv1.Listener, error) {
	q := sockdiag.Query{Protocol: sockdiag.TCP, Port: uint16(sc.Port)}
	if sc.Protocol == wslfwdv1.Protocol_PROTOCOL_UDP {
		q.Protocol = sockdiag.UDP
	}
	switch sc.Family {
	case wslfwdv1.AddressFamily_ADDRESS_FAMILY_IPV4:
		q.Family = unix.AF_INET
	case wslfwdv1.AddressFamily_ADDRESS_FAMILY_IPV6:
		q.Family = unix.AF_INET6
	}
	s.settled = false
	var err error
	if s.socks, err = s.sd.ScanSome(s.socks[:0], q); err != nil {
		return nil, err
	}
	s.inodes = s.inodes[:0]
	var fresh []uint64
	for _, sk := range s.socks {
		s.inodes = append(s.inodes, sk.Inode)
		if _, ok := s.prev[sk.Inode]; !ok {
			fresh = append(fresh, sk.Inode)
		}
	}
	if len(fresh) == 1 && sc.PID != 0 {
		s.procs.Assume(fresh[0], int(sc.PID), "")
	}
	if err := s.procs.Ensure(s.inodes); err != nil {
		return nil, fmt.Errorf("find listener owners: %w", err)
	}
	s.putOff()
	clear(s.found)
	out := make([]*wslfwdv1.Listener, 0, len(s.socks))
	for _, sk := range s.socks {
		s.found[sk.Inode] = true
		out = append(out, s.remember(sk).msg)
	}
	for ino, p := range s.prev {
		if !s.found[ino] && inQuery(p.sock, q) {
			delete(s.prev, ino)
			s.procs.Forget(ino)
		}
	}
	return out, nil
}

// inQuery reports whether sk is one of the sockets q selects.
func inQuery(sk sockdiag.Socket, q sockdiag.Query) bool {
	fam := uint8(unix.AF_INET)
	if sk.Addr.Is6() {
		fam = unix.AF_INET6
	}
	return sk.Protocol == q.Protocol && (q.Family == 0 || q.Family == fam) && (q.Port == 0 || q.Port == sk.Port)
}

// Opened implements tracker.Partial: the event carries everything
// sock_diag would say, and its process is the owner.
func (s *System) Opened(ev trigger.Event) *wslfwdv1.Listener {
	sk := sockdiag.Socket{Protocol: sockdiag.TCP, Addr: ev.Addr, Port: ev.Port, Inode: ev.Inode, UID: ev.UID, V6Only: ev.V6Only}
	if ev.Protocol == unix.IPPROTO_UDP {
		sk.Protocol = sockdiag.UDP
	}
	if p, ok := s.prev[sk.Inode]; ok && p.sock == sk {
		return p.msg
	}
	s.settled = false
	s.procs.Assume(sk.Inode, int(ev.PID), ev.Comm)
	return s.remember(sk).msg
}

// Closed implements tracker.Partial.
func (s *System) Closed(inode uint64) {
	s.settled = false
	delete(s.prev, inode)
	s.procs.Forget(inode)
}

// remember records sk, whose owner the cache knows, in prev and returns
// what was recorded; an unchanged socket keeps its message.
func (s *System) remember(sk sockdiag.Socket) *seen {
	owner, _ := s.procs.Lookup(sk.Inode)
	p := s.prev[sk.Inode]
	if p == nil || p.sock != sk || p.owner != owner {
		p = &seen{sock: sk, owner: owner, msg: toListener(sk, owner)}
		s.prev[sk.Inode] = p
	}
	return p
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

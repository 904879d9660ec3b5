//go:build linux

// Package netinv reads a network namespace's interfaces, addresses and
// default routes through rtnetlink and watches them for changes. It never
// parses the output of ip(8): netlink is the kernel's own interface, stable
// and locale-free.
package netinv

import (
	"cmp"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/internal/netstate"
)

// Inventory reads the network state of one namespace.
type Inventory struct {
	h  *netlink.Handle
	ns netns.NsHandle // a duplicate owned by Inventory, or None for the current namespace
}

// Open returns an Inventory of the calling thread's network namespace (for
// the agent, its own).
func Open() (*Inventory, error) {
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("open rtnetlink: %w", err)
	}
	return &Inventory{h: h, ns: netns.None()}, nil
}

// OpenAt returns an Inventory of the namespace ns. The caller keeps
// ownership of ns; Inventory holds its own duplicate until Close.
func OpenAt(ns netns.NsHandle) (*Inventory, error) {
	fd, err := unix.FcntlInt(uintptr(ns), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("duplicate namespace handle: %w", err)
	}
	own := netns.NsHandle(fd)
	h, err := netlink.NewHandleAt(own, unix.NETLINK_ROUTE)
	if err != nil {
		own.Close()
		return nil, fmt.Errorf("open rtnetlink in namespace: %w", err)
	}
	return &Inventory{h: h, ns: own}, nil
}

// Close releases the netlink handle.
func (inv *Inventory) Close() error {
	inv.h.Close()
	if inv.ns.IsOpen() {
		return inv.ns.Close()
	}
	return nil
}

// State returns every interface with its addresses, and the IPv4 and IPv6
// default routes of the main table, as many as the daemon accepts
// (netstate.Trim). Interfaces come sorted by index and
// addresses by value, so two reads of an unchanged namespace are equal.
// A dump that the kernel reports as interrupted by a concurrent change is
// read again.
func (inv *Inventory) State() (*wslfwdv1.NetworkState, error) {
	var err error
	for range 3 {
		var st *wslfwdv1.NetworkState
		st, err = inv.read()
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			return st, err
		}
	}
	return nil, err
}

func (inv *Inventory) read() (*wslfwdv1.NetworkState, error) {
	links, err := inv.h.LinkList()
	if err != nil {
		return nil, fmt.Errorf("list links: %w", err)
	}
	addrs, err := inv.h.AddrList(nil, netlink.FAMILY_ALL)
	if err != nil {
		return nil, fmt.Errorf("list addresses: %w", err)
	}
	st := &wslfwdv1.NetworkState{}
	names := make(map[int]string, len(links))
	for _, l := range links {
		a := l.Attrs()
		names[a.Index] = a.Name
		st.Interfaces = append(st.Interfaces, &wslfwdv1.Interface{
			Name:            a.Name,
			Index:           uint32(a.Index),
			Flags:           flagNames(a.Flags),
			Mtu:             uint32(a.MTU),
			HardwareAddress: a.HardwareAddr.String(),
			OperState:       a.OperState.String(),
		})
	}
	slices.SortFunc(st.Interfaces, func(a, b *wslfwdv1.Interface) int { return cmp.Compare(a.Index, b.Index) })
	slices.SortFunc(addrs, func(a, b netlink.Addr) int {
		return ipOf(a.IPNet).Compare(ipOf(b.IPNet))
	})
	for _, a := range addrs {
		i, ok := slices.BinarySearchFunc(st.Interfaces, uint32(a.LinkIndex), func(x *wslfwdv1.Interface, idx uint32) int {
			return cmp.Compare(x.Index, idx)
		})
		if !ok || a.IPNet == nil {
			continue
		}
		ones, _ := a.Mask.Size()
		st.Interfaces[i].Addresses = append(st.Interfaces[i].Addresses, &wslfwdv1.InterfaceAddress{
			Address:      ipOf(a.IPNet).String(),
			PrefixLength: uint32(ones),
		})
	}
	for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		routes, err := inv.defaultRoutes(fam, names)
		if err != nil {
			return nil, err
		}
		st.Routes = append(st.Routes, routes...)
	}
	netstate.Trim(st) // what the daemon accepts: the namespace is every distro's
	return st, nil
}

// defaultRoutes lists the default routes of family in the main table, one
// Route per next hop of a multipath route.
func (inv *Inventory) defaultRoutes(fam int, names map[int]string) ([]*wslfwdv1.Route, error) {
	rs, err := inv.h.RouteListFiltered(fam, &netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
	if err != nil {
		return nil, fmt.Errorf("list routes: %w", err)
	}
	family, dst := wslfwdv1.AddressFamily_ADDRESS_FAMILY_IPV4, "0.0.0.0/0"
	if fam == netlink.FAMILY_V6 {
		family, dst = wslfwdv1.AddressFamily_ADDRESS_FAMILY_IPV6, "::/0"
	}
	var out []*wslfwdv1.Route
	add := func(gw net.IP, ifindex, metric int) {
		r := &wslfwdv1.Route{
			Family:         family,
			Destination:    dst,
			InterfaceName:  names[ifindex],
			InterfaceIndex: uint32(ifindex),
			Metric:         uint32(metric),
		}
		if a, ok := netip.AddrFromSlice(gw); ok {
			r.Gateway = a.Unmap().String()
		}
		out = append(out, r)
	}
	for _, r := range rs {
		if r.Dst != nil {
			if ones, _ := r.Dst.Mask.Size(); ones != 0 {
				continue
			}
		}
		if r.Type != unix.RTN_UNICAST {
			continue
		}
		if len(r.MultiPath) > 0 {
			for _, nh := range r.MultiPath {
				add(nh.Gw, nh.LinkIndex, r.Priority)
			}
			continue
		}
		add(r.Gw, r.LinkIndex, r.Priority)
	}
	return out, nil
}

// ipOf returns the address of n, IPv4 in its 4-byte form.
func ipOf(n *net.IPNet) netip.Addr {
	if n == nil {
		return netip.Addr{}
	}
	a, _ := netip.AddrFromSlice(n.IP)
	return a.Unmap()
}

// flagNames names the interface flags the way Linux does, in lower case.
func flagNames(f net.Flags) []string {
	var out []string
	for _, x := range []struct {
		flag net.Flags
		name string
	}{
		{net.FlagUp, "up"},
		{net.FlagBroadcast, "broadcast"},
		{net.FlagLoopback, "loopback"},
		{net.FlagPointToPoint, "pointtopoint"},
		{net.FlagMulticast, "multicast"},
		{net.FlagRunning, "running"},
	} {
		if f&x.flag != 0 {
			out = append(out, x.name)
		}
	}
	return out
}

// Gateway4 returns the gateway of the best (lowest metric) IPv4 default
// route in st, or the zero Addr when there is none. In NAT mode it is the
// host's address.
func Gateway4(st *wslfwdv1.NetworkState) netip.Addr {
	var best netip.Addr
	var metric uint32
	for _, r := range st.GetRoutes() {
		if r.GetFamily() != wslfwdv1.AddressFamily_ADDRESS_FAMILY_IPV4 || r.GetGateway() == "" {
			continue
		}
		a, err := netip.ParseAddr(r.GetGateway())
		if err != nil {
			continue
		}
		if !best.IsValid() || r.GetMetric() < metric {
			best, metric = a, r.GetMetric()
		}
	}
	return best
}

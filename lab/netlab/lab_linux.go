//go:build linux

package netlab

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Prefix starts the name of every namespace a lab makes; Clean looks for it.
const Prefix = "wf-"

// Interface names, as the simulated machines call them.
const (
	LANLink     = "eth0"      // lan's link to the host
	HostLANLink = "lan0"      // the host's LAN adapter
	HostWSLLink = "vEthernet" // the host's side of the WSL switch ("vEthernet (WSL)" on Windows)
	WSLLink     = "eth0"      // the distro's only adapter
)

// The lab's addresses. They exist only inside the lab's namespaces.
var (
	LANAddr     = netip.MustParsePrefix("10.2.3.52/24")
	HostLANAddr = netip.MustParsePrefix("10.2.3.1/24")
	HostWSLAddr = netip.MustParsePrefix("172.28.240.1/20")
	WSLAddr     = netip.MustParsePrefix("172.28.240.53/20")

	LANAddr6     = netip.MustParsePrefix("fd00:0:0:1::52/64")
	HostLANAddr6 = netip.MustParsePrefix("fd00:0:0:1::1/64")
	HostWSLAddr6 = netip.MustParsePrefix("fd00:0:0:2::1/64")
	WSLAddr6     = netip.MustParsePrefix("fd00:0:0:2::53/64")
)

// Lab is one set of namespaces wired as in the package comment, plus the
// processes started in them.
type Lab struct {
	// ID is the per-run name stem, e.g. "wf-3fa2c1".
	ID string
	// LAN is a machine on the host's LAN.
	LAN *NS
	// WinHost is the Windows host, where the daemon runs.
	WinHost *NS
	// WSL is the WSL2 VM that every distro shares.
	WSL *NS
	// Dir holds the processes' logs.
	Dir string

	mu     sync.Mutex
	procs  []*Proc
	names  map[string]int
	closed bool
}

// New builds a lab. Its logs go to dir, which must exist; Close does not
// remove it. On error nothing is left behind.
func New(dir string) (_ *Lab, err error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("the lab needs root: it creates network namespaces")
	}
	if _, err := exec.LookPath(nsenterPath()); err != nil {
		return nil, fmt.Errorf("the lab runs processes with util-linux's nsenter (apt-get install util-linux): %w", err)
	}
	var b [3]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("pick lab id: %w", err)
	}
	l := &Lab{ID: Prefix + hex.EncodeToString(b[:]), Dir: dir, names: map[string]int{}}
	defer func() {
		if err != nil {
			err = errors.Join(err, l.Close())
		}
	}()
	for _, p := range []struct {
		ns   **NS
		role string
	}{{&l.LAN, "lan"}, {&l.WinHost, "winhost"}, {&l.WSL, "wsl"}} {
		ns, err := createNS(l.ID + "-" + p.role)
		if err != nil {
			return nil, err
		}
		*p.ns = ns
	}
	if err := l.wire(); err != nil {
		return nil, fmt.Errorf("wire lab %s: %w", l.ID, err)
	}
	return l, nil
}

// wire creates the two veth pairs, addresses and routes.
func (l *Lab) wire() error {
	for _, ns := range []*NS{l.LAN, l.WinHost, l.WSL} {
		// IPv4 settings of a new namespace are copied from the machine's
		// (devconf_inherit_init_net), so forwarding is switched off
		// explicitly: the host must not route lan to wsl, only forwards
		// may. IPv6 addresses survive a link flap, as IPv4 ones do.
		for _, s := range [][2]string{
			{"net/ipv4/conf/all/forwarding", "0"},
			{"net/ipv4/conf/default/forwarding", "0"},
			{"net/ipv6/conf/all/forwarding", "0"},
			{"net/ipv6/conf/all/keep_addr_on_down", "1"},
			{"net/ipv6/conf/default/keep_addr_on_down", "1"},
		} {
			if err := ns.Sysctl(s[0], s[1]); err != nil {
				return err
			}
		}
		if err := ns.setUp("lo"); err != nil {
			return err
		}
	}
	if err := l.WinHost.veth(HostLANLink, l.LAN, LANLink); err != nil {
		return err
	}
	if err := l.WinHost.veth(HostWSLLink, l.WSL, WSLLink); err != nil {
		return err
	}
	addrs := []struct {
		ns    *NS
		link  string
		addrs []netip.Prefix
	}{
		{l.LAN, LANLink, []netip.Prefix{LANAddr, LANAddr6}},
		{l.WinHost, HostLANLink, []netip.Prefix{HostLANAddr, HostLANAddr6}},
		{l.WinHost, HostWSLLink, []netip.Prefix{HostWSLAddr, HostWSLAddr6}},
		{l.WSL, WSLLink, []netip.Prefix{WSLAddr, WSLAddr6}},
	}
	for _, a := range addrs {
		for _, p := range a.addrs {
			if err := a.ns.AddAddr(a.link, p); err != nil {
				return err
			}
		}
		if err := a.ns.setUp(a.link); err != nil {
			return err
		}
	}
	for _, a := range addrs {
		if err := a.ns.WaitOperational(a.link); err != nil {
			return err
		}
	}
	return l.WSLDefaultRoutes()
}

// WSLDefaultRoutes (re)installs wsl's default routes through the host, as
// WSL does at boot. The kernel drops them when eth0 goes down or loses its
// address, so tests that do that call this afterwards.
func (l *Lab) WSLDefaultRoutes() error {
	if err := l.WSL.DefaultRoute(WSLLink, HostWSLAddr.Addr()); err != nil {
		return err
	}
	return l.WSL.DefaultRoute(WSLLink, HostWSLAddr6.Addr())
}

// SetWSLAddress replaces wsl's IPv4 address on eth0, the way a WSL restart
// hands the distro a new one: the old address goes, the new one comes, and
// the default route is put back.
func (l *Lab) SetWSLAddress(old, new netip.Prefix) error {
	if err := l.WSL.DelAddr(WSLLink, old); err != nil {
		return err
	}
	if err := l.WSL.AddAddr(WSLLink, new); err != nil {
		return err
	}
	return l.WSLDefaultRoutes()
}

// SetWSLLinkUp takes wsl's eth0 down or up, as a VM network hiccup would.
// Up waits until the link carries packets and puts the default routes back,
// which the kernel dropped with the link.
func (l *Lab) SetWSLLinkUp(up bool) error {
	if err := l.WSL.SetLinkUp(WSLLink, up); err != nil || !up {
		return err
	}
	if err := l.WSL.WaitOperational(WSLLink); err != nil {
		return err
	}
	return l.WSLDefaultRoutes()
}

// Start starts cmd (usually from NS.Command) with its output going to a log
// file named after name in the lab's directory, and tracks it so that Close
// stops it.
func (l *Lab) Start(name string, cmd *exec.Cmd) (*Proc, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, fmt.Errorf("start %s: lab %s is closed", name, l.ID)
	}
	l.names[name]++
	file := name + ".log"
	if n := l.names[name]; n > 1 {
		file = fmt.Sprintf("%s.%d.log", name, n)
	}
	p, err := startProc(name, l.Dir+"/"+file, cmd)
	if err != nil {
		return nil, err
	}
	l.procs = append(l.procs, p)
	return p, nil
}

// Close stops every process the lab started (SIGTERM, then SIGKILL after a
// moment) and deletes the namespaces, which takes the veth pairs with them.
// It is safe to call more than once.
func (l *Lab) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	procs := l.procs
	l.mu.Unlock()

	var errs []error
	stopAll(procs, 2*time.Second)
	for _, ns := range []*NS{l.LAN, l.WinHost, l.WSL} {
		if ns == nil {
			continue
		}
		if err := killIn(ns.Name, 5*time.Second); err != nil {
			errs = append(errs, err)
		}
		if err := ns.remove(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Sysctl sets a network sysctl of the namespace; key is the path under
// /proc/sys, e.g. "net/ipv4/conf/all/forwarding".
func (ns *NS) Sysctl(key, value string) error {
	if !strings.HasPrefix(key, "net/") || strings.Contains(key, "..") {
		return fmt.Errorf("sysctl %q: only net/ keys are per namespace", key)
	}
	err := ns.Do(func() error {
		return os.WriteFile("/proc/sys/"+key, []byte(value), 0o644)
	})
	if err != nil {
		return fmt.Errorf("sysctl %s=%s in %s: %w", key, value, ns.Name, err)
	}
	return nil
}

// stopAll sends SIGTERM to every process, gives them timeout in all to
// exit, and kills those still running.
func stopAll(procs []*Proc, timeout time.Duration) {
	for _, p := range procs {
		_ = p.Signal(syscall.SIGTERM)
	}
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for _, p := range procs {
		select {
		case <-p.Done():
		case <-deadline.C:
			// Past the deadline every Kill below returns at once for the
			// exited and waits only for the killed.
			for _, q := range procs {
				_ = q.Kill()
			}
			return
		}
	}
}

// handle opens a netlink handle bound to the namespace, so link and address
// changes need no thread switching.
func (ns *NS) handle() (*netlink.Handle, error) {
	h, err := netlink.NewHandleAt(ns.h)
	if err != nil {
		return nil, fmt.Errorf("netlink in %s: %w", ns.Name, err)
	}
	return h, nil
}

// link looks up an interface of the namespace by name.
func (ns *NS) link(h *netlink.Handle, name string) (netlink.Link, error) {
	lk, err := h.LinkByName(name)
	if err != nil {
		return nil, fmt.Errorf("link %s in %s: %w", name, ns.Name, err)
	}
	return lk, nil
}

// withLink runs fn with a netlink handle in ns and the named link.
func (ns *NS) withLink(name string, fn func(h *netlink.Handle, lk netlink.Link) error) error {
	h, err := ns.handle()
	if err != nil {
		return err
	}
	defer h.Close()
	lk, err := ns.link(h, name)
	if err != nil {
		return err
	}
	return fn(h, lk)
}

// veth creates a veth pair with one end, name, here and the other,
// peerName, in peer.
func (ns *NS) veth(name string, peer *NS, peerName string) error {
	h, err := ns.handle()
	if err != nil {
		return err
	}
	defer h.Close()
	v := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: name},
		PeerName:      peerName,
		PeerNamespace: netlink.NsFd(peer.h),
	}
	if err := h.LinkAdd(v); err != nil {
		return fmt.Errorf("veth %s/%s ↔ %s/%s: %w", ns.Name, name, peer.Name, peerName, err)
	}
	return nil
}

// setUp brings an interface up.
func (ns *NS) setUp(name string) error { return ns.SetLinkUp(name, true) }

// SetLinkUp brings an interface up or down.
func (ns *NS) SetLinkUp(name string, up bool) error {
	return ns.withLink(name, func(h *netlink.Handle, lk netlink.Link) error {
		var err error
		if up {
			err = h.LinkSetUp(lk)
		} else {
			err = h.LinkSetDown(lk)
		}
		if err != nil {
			return fmt.Errorf("set %s in %s up=%v: %w", name, ns.Name, up, err)
		}
		return nil
	})
}

// WaitOperational polls until a link is operationally up. The kernel
// reports that through its link watcher, which can lag by up to a second
// after both ends of a veth are up; until then the link's queue drops
// packets, and a first connection would stall for a SYN retransmit.
func (ns *NS) WaitOperational(name string) error {
	h, err := ns.handle()
	if err != nil {
		return err
	}
	defer h.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		lk, err := ns.link(h, name)
		if err != nil {
			return err
		}
		if lk.Attrs().OperState == netlink.OperUp {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("link %s in %s: still %s after 5s", name, ns.Name, lk.Attrs().OperState)
		}
		time.Sleep(5 * time.Millisecond) // poll interval
	}
}

// AddAddr adds an address to an interface. IPv6 addresses skip duplicate
// address detection, so they are usable at once.
func (ns *NS) AddAddr(name string, p netip.Prefix) error {
	return ns.changeAddr(name, p, true)
}

// DelAddr removes an address from an interface.
func (ns *NS) DelAddr(name string, p netip.Prefix) error {
	return ns.changeAddr(name, p, false)
}

func (ns *NS) changeAddr(name string, p netip.Prefix, add bool) error {
	return ns.withLink(name, func(h *netlink.Handle, lk netlink.Link) error {
		a := &netlink.Addr{IPNet: &net.IPNet{
			IP:   p.Addr().AsSlice(),
			Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen()),
		}}
		if p.Addr().Is6() {
			a.Flags = unix.IFA_F_NODAD
		}
		var err error
		if add {
			err = h.AddrAdd(lk, a)
		} else {
			err = h.AddrDel(lk, a)
		}
		if err != nil {
			verb := map[bool]string{true: "add", false: "delete"}[add]
			return fmt.Errorf("%s address %s on %s in %s: %w", verb, p, name, ns.Name, err)
		}
		return nil
	})
}

// DefaultRoute sets the default route of gw's family through the named
// interface, replacing any there is.
func (ns *NS) DefaultRoute(name string, gw netip.Addr) error {
	return ns.withLink(name, func(h *netlink.Handle, lk netlink.Link) error {
		dst := netip.PrefixFrom(netip.IPv4Unspecified(), 0)
		if gw.Is6() {
			dst = netip.PrefixFrom(netip.IPv6Unspecified(), 0)
		}
		r := &netlink.Route{
			LinkIndex: lk.Attrs().Index,
			Dst:       &net.IPNet{IP: dst.Addr().AsSlice(), Mask: net.CIDRMask(0, dst.Addr().BitLen())},
			Gw:        gw.AsSlice(),
		}
		if err := h.RouteReplace(r); err != nil {
			return fmt.Errorf("default route via %s dev %s in %s: %w", gw, name, ns.Name, err)
		}
		return nil
	})
}

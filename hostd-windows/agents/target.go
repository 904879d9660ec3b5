package agents

import (
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"
)

// TargetRules decide which addresses may ever be a forward target. An
// agent's report is a claim, not a proof: in NAT mode its only target is
// the source address of its own connection, and even that must pass these
// rules, so a distro cannot turn the host into a forwarder to the host
// itself, to its loopback, or to anywhere else the host can reach.
type TargetRules struct {
	// HostAddrs returns the host's own addresses, which are never targets;
	// nil reads the host's interfaces.
	HostAddrs func() ([]netip.Addr, error)
	// AllowLoopback admits loopback addresses. Only tests that run daemon,
	// agent and service on one machine's loopback set it; the daemon never
	// does.
	AllowLoopback bool
}

// documentation are the address ranges reserved for examples (RFC 5737,
// RFC 3849): no distro has them, so a claim of one is a lie.
var documentation = []netip.Prefix{
	netip.MustParsePrefix("192.0.2.0/24"),
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"),
	netip.MustParsePrefix("2001:db8::/32"),
}

// Check returns why a may not be a forward target, or nil.
func (r TargetRules) Check(a netip.Addr) error {
	a = a.Unmap().WithZone("")
	switch {
	case !a.IsValid():
		return fmt.Errorf("no address")
	case a.IsUnspecified():
		return fmt.Errorf("%s is the unspecified address", a)
	case a.IsLoopback():
		if r.AllowLoopback {
			return nil
		}
		return fmt.Errorf("%s is a loopback address", a)
	case a.IsLinkLocalUnicast():
		return fmt.Errorf("%s is a link-local address", a)
	case a.IsMulticast() || a.IsLinkLocalMulticast() || a.IsInterfaceLocalMulticast():
		return fmt.Errorf("%s is a multicast address", a)
	case a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return fmt.Errorf("%s is the broadcast address", a)
	case a.Is4() && a.As4()[0] == 0:
		return fmt.Errorf("%s is in 0.0.0.0/8, which names this host", a)
	}
	for _, p := range documentation {
		if p.Contains(a) {
			return fmt.Errorf("%s is in %s, reserved for documentation", a, p)
		}
	}
	host, err := r.IsHost(a)
	if err != nil {
		return err
	}
	if host {
		return fmt.Errorf("%s is an address of the host itself", a)
	}
	return nil
}

// IsHost reports whether a is the host's own: loopback or an address of
// one of its interfaces.
func (r TargetRules) IsHost(a netip.Addr) (bool, error) {
	a = a.Unmap().WithZone("")
	if a.IsLoopback() {
		return true, nil
	}
	own, err := r.hostAddrs()
	if err != nil {
		return false, fmt.Errorf("cannot tell whether %s is the host's own address: %w", a, err)
	}
	for _, h := range own {
		if h.Unmap().WithZone("") == a {
			return true, nil
		}
	}
	return false, nil
}

func (r TargetRules) hostAddrs() ([]netip.Addr, error) {
	if r.HostAddrs != nil {
		return r.HostAddrs()
	}
	return hostAddrs.get()
}

// hostAddrs is the host's addresses as every hello reads them. Listing
// the interfaces costs milliseconds on Windows (GetAdaptersAddresses, with
// the Hyper-V adapters), and a holder of the agent token may loop hellos:
// so a list is taken as read for a second: an address the host gains
// counts as its own within a second.
var hostAddrs = &addrCache{ttl: time.Second, fetch: InterfaceAddrs, now: time.Now}

// addrCache keeps a list of addresses for ttl after it was fetched. A
// failed fetch is not kept.
type addrCache struct {
	ttl   time.Duration
	fetch func() ([]netip.Addr, error)
	now   func() time.Time

	mu    sync.Mutex
	at    time.Time
	addrs []netip.Addr
}

func (c *addrCache) get() ([]netip.Addr, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if c.addrs != nil && now.Sub(c.at) < c.ttl {
		return c.addrs, nil
	}
	addrs, err := c.fetch()
	if err != nil {
		return nil, err
	}
	c.addrs, c.at = addrs, now
	return addrs, nil
}

// InterfaceAddrs returns the addresses of the host's interfaces.
func InterfaceAddrs() ([]netip.Addr, error) {
	as, err := net.InterfaceAddrs()
	if err != nil {
		return nil, fmt.Errorf("list the host's addresses: %w", err)
	}
	out := make([]netip.Addr, 0, len(as))
	for _, a := range as {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			out = append(out, p.Addr())
		}
	}
	return out, nil
}

// Source is what a connection counts against, in every limit per source.
// Every loopback address (all of 127/8, ::1) is one source, since anyone
// on the host can pick any of them. Any other connection comes in on the
// WSL adapter's address (the daemon listens on loopback and there only,
// unless its config names others) from the WSL VM, which can send from
// any free address of that network (root in a distro adds one with `ip
// addr add`): so it counts against the address it came in on, local, one
// source for the whole VM. On a listen address of the user's own (a LAN
// one) its clients share one allowance the same way: stricter for them,
// never looser.
func Source(remote, local netip.AddrPort) netip.Addr {
	a := remote.Addr().Unmap()
	if a.IsLoopback() {
		return netip.IPv6Loopback()
	}
	if l := local.Addr().Unmap(); l.IsValid() && !l.IsUnspecified() {
		return l
	}
	return a
}

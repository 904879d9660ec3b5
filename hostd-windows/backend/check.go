package backend

import (
	"fmt"
	"net/netip"
)

// Check rejects an entry no backend can carry, whatever its protocol:
// a missing address or port, an IPv4-mapped address (ambiguous between
// the two families), an unspecified target, or one that forwards to
// itself. Backends that carry sockets of their own (the relay) and rules
// (the kernel's) apply the same checks, so the same entries fail alike.
func Check(e Entry) error {
	for _, ap := range []struct {
		what string
		ap   netip.AddrPort
	}{{"listen", e.Listen}, {"connect", e.Connect}} {
		switch {
		case !ap.ap.Addr().IsValid():
			return fmt.Errorf("invalid entry: no %s address", ap.what)
		case ap.ap.Port() == 0:
			return fmt.Errorf("invalid entry: %s port 0", ap.what)
		case ap.ap.Addr().Is4In6():
			return fmt.Errorf("invalid entry: %s address %s is IPv4-mapped; use %s", ap.what, ap.ap.Addr(), ap.ap.Addr().Unmap())
		}
	}
	if e.Connect.Addr().IsUnspecified() {
		return fmt.Errorf("invalid entry: connect address %s is unspecified", e.Connect.Addr())
	}
	if loops(e) {
		return fmt.Errorf("invalid entry: %s would forward to itself", e)
	}
	return nil
}

// loops reports an entry whose target is its own listener: the same
// address, or loopback of the family it listens on for every address.
// (Its target may still be another address of this host; only the host's
// own address list could tell.)
func loops(e Entry) bool {
	l, c := e.Listen.Addr(), e.Connect.Addr()
	return e.Listen.Port() == e.Connect.Port() &&
		(l == c || l.IsUnspecified() && c.IsLoopback() && l.Is4() == c.Is4())
}

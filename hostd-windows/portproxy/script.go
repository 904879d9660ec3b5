package portproxy

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/wslfwd/wslfwd/hostd-windows/backend"
)

// checkEntry reports why portproxy cannot carry e, if it cannot. Only
// entries that pass are ever rendered, so nothing a caller passes can
// change the shape of a netsh command line.
func checkEntry(e backend.Entry) error {
	if e.Protocol != backend.TCP {
		return fmt.Errorf("portproxy carries TCP only, not %q: %w", e.Protocol, backend.ErrUnsupported)
	}
	if err := checkAddrPort("listen", e.Listen); err != nil {
		return err
	}
	if err := checkAddrPort("connect", e.Connect); err != nil {
		return err
	}
	if e.Connect.Addr().IsUnspecified() {
		return fmt.Errorf("connect address %s is unspecified", e.Connect.Addr())
	}
	return nil
}

func checkAddrPort(what string, ap netip.AddrPort) error {
	a := ap.Addr()
	switch {
	case !a.IsValid():
		return fmt.Errorf("%s address is missing", what)
	case a.Zone() != "":
		return fmt.Errorf("%s address %s has a zone, which portproxy cannot take: %w", what, a, backend.ErrUnsupported)
	case a.Is4In6():
		return fmt.Errorf("%s address %s is IPv4-mapped IPv6; give the IPv4 address: %w", what, a, backend.ErrUnsupported)
	case ap.Port() == 0:
		return fmt.Errorf("%s port is 0", what)
	}
	return nil
}

// addLine renders the netsh script line that creates e.
func addLine(e backend.Entry) string {
	return fmt.Sprintf("interface portproxy add %s listenport=%d listenaddress=%s connectport=%d connectaddress=%s protocol=tcp",
		KindOf(e.Listen.Addr(), e.Connect.Addr()), e.Listen.Port(), e.Listen.Addr(), e.Connect.Port(), e.Connect.Addr())
}

// deleteLine renders the netsh script line that deletes e. netsh deletes
// by listen address and port within the entry's table.
func deleteLine(e backend.Entry) string {
	return fmt.Sprintf("interface portproxy delete %s listenport=%d listenaddress=%s protocol=tcp",
		KindOf(e.Listen.Addr(), e.Connect.Addr()), e.Listen.Port(), e.Listen.Addr())
}

// Script renders a batch as a netsh script for `netsh -f`: one line per
// change, removals first, then additions, CRLF line endings. It refuses the
// whole batch if any entry is one portproxy cannot carry; Apply sorts those
// out first and reports them one by one.
func Script(b backend.Batch) (string, error) {
	var s strings.Builder
	var errs []error
	for _, e := range b.Remove {
		if err := checkEntry(e); err != nil {
			errs = append(errs, fmt.Errorf("remove %s: %w", e, err))
			continue
		}
		s.WriteString(deleteLine(e) + "\r\n")
	}
	for _, e := range b.Add {
		if err := checkEntry(e); err != nil {
			errs = append(errs, fmt.Errorf("add %s: %w", e, err))
			continue
		}
		s.WriteString(addLine(e) + "\r\n")
	}
	if len(errs) > 0 {
		return "", errors.Join(errs...)
	}
	return s.String(), nil
}

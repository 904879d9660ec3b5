package portproxy

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/wslfwd/wslfwd/hostd-windows/backend"
)

// RegistryPath is where Windows keeps portproxy entries, under
// HKEY_LOCAL_MACHINE; each table is the subkey <kind>\tcp.
const RegistryPath = `SYSTEM\CurrentControlSet\Services\PortProxy`

// Value is one raw registry value under PortProxy\<kind>\tcp: its name is
// "listenaddress/listenport", its data "connectaddress/connectport".
type Value struct {
	Kind Kind   `json:"kind"`
	Name string `json:"name"`
	Data string `json:"data"`
	// Problem is set by the store when the value could not be read as a
	// string (for example a REG_DWORD); Data is empty then.
	Problem string `json:"problem,omitempty"`
}

// Store reads every portproxy value from the registry. A missing table
// key means that table is empty, not an error.
type Store interface {
	Read() ([]Value, error)
}

// Unparsed is a stored value that is not an entry wslfwd understands: a
// port range, a `*` or host name address, a value of the wrong type. It
// is reported for diagnostics and never changed.
type Unparsed struct {
	Value
	Reason string `json:"reason"`
}

// Snapshot is what the registry holds, sorted into entries and the rest.
type Snapshot struct {
	Entries  []backend.Entry
	Unparsed []Unparsed
}

// ParseValue reads one registry value as an entry of its table. Only
// canonical, literal addresses of the table's families and decimal ports
// 1-65535 are accepted; anything else is an error saying why.
func ParseValue(v Value) (backend.Entry, error) {
	if v.Problem != "" {
		return backend.Entry{}, errors.New(v.Problem)
	}
	listen4, connect4, err := v.Kind.families()
	if err != nil {
		return backend.Entry{}, err
	}
	listen, err := parseAddrPort(v.Name, listen4)
	if err != nil {
		return backend.Entry{}, fmt.Errorf("listen %q: %w", v.Name, err)
	}
	connect, err := parseAddrPort(v.Data, connect4)
	if err != nil {
		return backend.Entry{}, fmt.Errorf("connect %q: %w", v.Data, err)
	}
	return backend.Entry{Protocol: backend.TCP, Listen: listen, Connect: connect}, nil
}

// parseAddrPort parses "address/port" as stored by netsh. The address may
// be IPv6 and so contain colons; the port follows the last slash.
func parseAddrPort(s string, want4 bool) (netip.AddrPort, error) {
	i := strings.LastIndexByte(s, '/')
	if i < 0 {
		return netip.AddrPort{}, errors.New(`not "address/port"`)
	}
	addrText, portText := s[:i], s[i+1:]
	port, err := parsePort(portText)
	if err != nil {
		return netip.AddrPort{}, err
	}
	addr, err := netip.ParseAddr(addrText)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("address %q is not a literal IP address", addrText)
	}
	switch {
	case addr.Zone() != "":
		return netip.AddrPort{}, fmt.Errorf("address %q has a zone", addrText)
	case addr.Is4In6():
		return netip.AddrPort{}, fmt.Errorf("address %q is IPv4-mapped IPv6", addrText)
	case addr.Is4() != want4:
		return netip.AddrPort{}, fmt.Errorf("address %q is of the wrong family for this table", addrText)
	case addr.String() != addrText:
		// A spelling netsh would not write back the same way ("::0",
		// upper-case hex): deleting it by the canonical text could miss.
		return netip.AddrPort{}, fmt.Errorf("address %q is not in canonical form", addrText)
	}
	return netip.AddrPortFrom(addr, port), nil
}

func parsePort(s string) (uint16, error) {
	if s == "" || len(s) > 5 || strings.Trim(s, "0123456789") != "" || s[0] == '0' {
		return 0, fmt.Errorf("port %q is not a decimal number 1-65535", s)
	}
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil {
		return 0, fmt.Errorf("port %q is not a decimal number 1-65535", s)
	}
	return uint16(n), nil
}

// Sort splits raw values into entries and unparsed values. When one
// listen address and port appears in two tables (netsh allows it, though
// only one can listen), both are kept unparsed: wslfwd cannot tell which
// is in effect and must not touch either.
func Sort(values []Value) Snapshot {
	var s Snapshot
	seen := make(map[backend.Key]int) // key -> index in s.Entries
	var dups []int
	for _, v := range values {
		e, err := ParseValue(v)
		if err != nil {
			s.Unparsed = append(s.Unparsed, Unparsed{Value: v, Reason: err.Error()})
			continue
		}
		if i, ok := seen[e.Key()]; ok {
			dups = append(dups, i)
			s.Unparsed = append(s.Unparsed, Unparsed{Value: v, Reason: "listen address and port appear in more than one table"})
			continue
		}
		seen[e.Key()] = len(s.Entries)
		s.Entries = append(s.Entries, e)
	}
	if len(dups) > 0 {
		drop := make(map[int]bool, len(dups))
		for _, i := range dups {
			drop[i] = true
		}
		kept := s.Entries[:0:0]
		for i, e := range s.Entries {
			if !drop[i] {
				kept = append(kept, e)
				continue
			}
			s.Unparsed = append(s.Unparsed, Unparsed{
				Value:  valueOf(e),
				Reason: "listen address and port appear in more than one table",
			})
		}
		s.Entries = kept
	}
	return s
}

// valueOf renders e as netsh stores it.
func valueOf(e backend.Entry) Value {
	return Value{
		Kind: KindOf(e.Listen.Addr(), e.Connect.Addr()),
		Name: fmt.Sprintf("%s/%d", e.Listen.Addr(), e.Listen.Port()),
		Data: fmt.Sprintf("%s/%d", e.Connect.Addr(), e.Connect.Port()),
	}
}

// Package portproxy is the Windows backend: it keeps forwards as
// `netsh interface portproxy` entries, served by the IP Helper service.
//
// Changes go through netsh, one process per batch (`netsh -f script`), and
// are judged only by reading the registry back: netsh's messages are
// localised and it can print a usage error and still exit 0. The core here
// is OS-neutral; the registry store, the netsh runner and the host checks
// are the thin _windows.go layer, so the logic is tested on Linux with fakes
// and on Wine against a real registry.
package portproxy

import (
	"fmt"
	"net/netip"
)

// Kind is a portproxy table: the address families it listens and connects
// on. It names both the netsh sub-command and the registry key.
type Kind string

// The four portproxy tables.
const (
	V4ToV4 Kind = "v4tov4"
	V4ToV6 Kind = "v4tov6"
	V6ToV4 Kind = "v6tov4"
	V6ToV6 Kind = "v6tov6"
)

// Kinds lists every table, in the order they are read and rendered.
var Kinds = []Kind{V4ToV4, V4ToV6, V6ToV4, V6ToV6}

// KindOf returns the table that carries connections from listen to
// connect, chosen by their address families.
func KindOf(listen, connect netip.Addr) Kind {
	switch {
	case listen.Is4() && connect.Is4():
		return V4ToV4
	case listen.Is4():
		return V4ToV6
	case connect.Is4():
		return V6ToV4
	}
	return V6ToV6
}

// families returns whether the table listens and connects on IPv4.
func (k Kind) families() (listen4, connect4 bool, err error) {
	switch k {
	case V4ToV4:
		return true, true, nil
	case V4ToV6:
		return true, false, nil
	case V6ToV4:
		return false, true, nil
	case V6ToV6:
		return false, false, nil
	}
	return false, false, fmt.Errorf("unknown portproxy kind %q", string(k))
}

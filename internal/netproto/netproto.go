// Package netproto owns the text form of the transport protocols wslfwd
// forwards, TCP and UDP: "tcp" and "udp", as the CLI prints and reads them,
// the config file writes them and the Windows daemon keys its entries by
// them. Like net/netip for addresses, one package turns the wire enum into
// text and back, so every program spells and parses them alike.
package netproto

import (
	"fmt"
	"strings"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
)

// The names, in lower case.
const (
	TCP = "tcp"
	UDP = "udp"
)

// Name returns "tcp" or "udp"; "" for any other value, such as
// PROTOCOL_UNSPECIFIED, so that a caller decides what an unset protocol
// means rather than this package guessing.
func Name(p wslfwdv1.Protocol) string {
	switch p {
	case wslfwdv1.Protocol_PROTOCOL_TCP:
		return TCP
	case wslfwdv1.Protocol_PROTOCOL_UDP:
		return UDP
	}
	return ""
}

// Parse parses "tcp" or "udp" in any case; Name(Parse(s)) is s in lower
// case.
func Parse(s string) (wslfwdv1.Protocol, error) {
	switch strings.ToLower(s) {
	case TCP:
		return wslfwdv1.Protocol_PROTOCOL_TCP, nil
	case UDP:
		return wslfwdv1.Protocol_PROTOCOL_UDP, nil
	}
	return wslfwdv1.Protocol_PROTOCOL_UNSPECIFIED, fmt.Errorf("%q is not %q or %q", s, TCP, UDP)
}

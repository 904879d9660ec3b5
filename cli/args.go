package main

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/internal/netproto"
)

// portSpec is a port argument: "8080", "8080/tcp" or "53/udp".
type portSpec struct {
	proto wslfwdv1.Protocol
	port  uint16
}

func (p portSpec) String() string {
	return fmt.Sprintf("%d/%s", p.port, netproto.Name(p.proto))
}

// parsePortSpec parses PORT[/tcp|/udp]; the port is 1 to 65535 in decimal
// and the protocol defaults to TCP.
func parsePortSpec(s string) (portSpec, error) {
	num, proto, hasProto := strings.Cut(s, "/")
	spec := portSpec{proto: wslfwdv1.Protocol_PROTOCOL_TCP}
	if hasProto {
		p, err := netproto.Parse(proto)
		if err != nil {
			return portSpec{}, fmt.Errorf("port %q: protocol must be tcp or udp", s)
		}
		spec.proto = p
	}
	n, err := parsePort(num)
	if err != nil {
		return portSpec{}, fmt.Errorf("port %q: %w", s, err)
	}
	spec.port = n
	return spec, nil
}

// parsePort parses a decimal port number, 1 to 65535.
func parsePort(s string) (uint16, error) {
	if s == "" {
		return 0, fmt.Errorf("missing port number")
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return 0, fmt.Errorf("%q is not a port number", s)
		}
	}
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("port must be 1 to 65535")
	}
	return uint16(n), nil
}

// portFlag parses the port flag name, given as value; 0 when the flag was
// not given. Port flags are strings, parsed here, because pflag's own
// message for 70000 is a raw strconv error.
func portFlag(cmd *cobra.Command, name, value string) (uint16, error) {
	if !cmd.Flags().Changed(name) {
		return 0, nil
	}
	p, err := parsePort(value)
	if err != nil {
		return 0, usagef("--%s %q: %v", name, value, err)
	}
	return p, nil
}

// parseListenAddress validates --listen-address: an IP address, which is
// sent in its canonical form.
func parseListenAddress(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return "", fmt.Errorf("--listen-address %q: want an IP address such as 0.0.0.0 or 192.168.1.20", s)
	}
	return a.Unmap().String(), nil
}

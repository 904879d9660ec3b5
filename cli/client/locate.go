package client

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/wslfwd/wslfwd/internal/endpoint"
)

// Target is the daemon address the CLI dials, and why that one: every
// "unreachable" message names both.
type Target struct {
	Addr string
	Why  string
}

// Locate picks the daemon address: --host when given, else the default for
// the place the CLI runs (inside WSL, by networking mode: see
// Place.DetectNetwork).
func Locate(env Env, p *Place, hostFlag string) (Target, error) {
	if hostFlag != "" {
		addr, err := ParseHost(hostFlag)
		if err != nil {
			return Target{}, err
		}
		return Target{Addr: addr, Why: "from --host"}, nil
	}
	loopback := netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), endpoint.DefaultPort).String()
	switch p.Kind {
	case Windows:
		return Target{Addr: loopback, Why: "on Windows the daemon listens on loopback"}, nil
	case Linux:
		return Target{Addr: loopback, Why: "outside WSL the daemon is on this machine"}, nil
	case WSL:
		p.DetectNetwork(env)
		addr, why, err := endpoint.ForMode(p.Mode, p.Gateway4)
		if err != nil {
			if p.GatewayErr != nil {
				return Target{}, fmt.Errorf("find the daemon (%s): %w (gateway lookup: %v)", p.ModeSource, err, p.GatewayErr)
			}
			return Target{}, fmt.Errorf("find the daemon (%s): %w", p.ModeSource, err)
		}
		return Target{Addr: addr, Why: why + "; " + p.ModeSource}, nil
	default:
		return Target{}, fmt.Errorf("no default daemon address on this system; pass --host")
	}
}

// ParseHost validates a --host value: "host", "host:port", "[v6]:port" or a
// bare IPv6 address. A missing port means the daemon's default port.
func ParseHost(s string) (string, error) {
	if s == "" || strings.ContainsAny(s, " \t\r\n/") {
		return "", fmt.Errorf("--host %q: want host or host:port", s)
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return netip.AddrPortFrom(a, endpoint.DefaultPort).String(), nil
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		if strings.Contains(s, ":") || strings.ContainsAny(s, "[]") {
			return "", fmt.Errorf("--host %q: %w", s, err)
		}
		host, port = s, strconv.Itoa(endpoint.DefaultPort)
	}
	if host == "" {
		return "", fmt.Errorf("--host %q: missing host", s)
	}
	if strings.ContainsAny(host, "[]") {
		return "", fmt.Errorf("--host %q: bad host", s)
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil || n == 0 {
		return "", fmt.Errorf("--host %q: port must be 1 to 65535", s)
	}
	return net.JoinHostPort(host, strconv.FormatUint(n, 10)), nil
}

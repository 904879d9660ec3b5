// Package endpoint decides where a client inside WSL (the agent, or the CLI
// run in a distro) finds the host daemon.
package endpoint

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
)

// DefaultPort is the daemon's gRPC port. It sits below Windows' dynamic
// port range (49152 and up), where Hyper-V's excluded port ranges usually
// fall.
const DefaultPort = 17810

// ForMode returns the daemon address a client in a distro with the given
// networking mode dials by default, and why that address: in NAT mode the
// host is the IPv4 default gateway; mirrored mode and WSL1 share the host's
// loopback. Other modes have no default.
func ForMode(mode wslfwdv1.NetworkingMode, gateway4 netip.Addr) (addr, why string, err error) {
	port := strconv.Itoa(DefaultPort)
	switch mode {
	case wslfwdv1.NetworkingMode_NETWORKING_MODE_NAT:
		if !gateway4.IsValid() || !gateway4.Is4() {
			return "", "", fmt.Errorf("NAT mode but no IPv4 default gateway: the host's address is unknown; pass --host")
		}
		return netip.AddrPortFrom(gateway4, DefaultPort).String(),
			"NAT mode: the host is the IPv4 default gateway", nil
	case wslfwdv1.NetworkingMode_NETWORKING_MODE_MIRRORED, wslfwdv1.NetworkingMode_NETWORKING_MODE_WSL1:
		return "127.0.0.1:" + port, "mirrored mode and WSL1 share the host's loopback", nil
	default:
		return "", "", fmt.Errorf("networking mode %s has no default daemon address; pass --host", ModeName(mode))
	}
}

// ModeName is the name wslinfo prints for a mode ("nat", "mirrored", ...).
func ModeName(m wslfwdv1.NetworkingMode) string {
	switch m {
	case wslfwdv1.NetworkingMode_NETWORKING_MODE_NAT:
		return "nat"
	case wslfwdv1.NetworkingMode_NETWORKING_MODE_MIRRORED:
		return "mirrored"
	case wslfwdv1.NetworkingMode_NETWORKING_MODE_BRIDGED:
		return "bridged"
	case wslfwdv1.NetworkingMode_NETWORKING_MODE_VIRTIOPROXY:
		return "virtioproxy"
	case wslfwdv1.NetworkingMode_NETWORKING_MODE_NONE:
		return "none"
	case wslfwdv1.NetworkingMode_NETWORKING_MODE_WSL1:
		return "wsl1"
	default:
		return "unknown"
	}
}

// ParseMode is ModeName's inverse for what `wslinfo --networking-mode`
// prints, white space and case aside; "consomme" (WSL 2.9's name for
// virtioproxy) is virtioproxy. ok is false for anything else. The agent and
// the CLI both detect the mode and must agree on the names.
func ParseMode(s string) (m wslfwdv1.NetworkingMode, ok bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "consomme" {
		s = "virtioproxy"
	}
	for _, m := range []wslfwdv1.NetworkingMode{
		wslfwdv1.NetworkingMode_NETWORKING_MODE_NAT,
		wslfwdv1.NetworkingMode_NETWORKING_MODE_MIRRORED,
		wslfwdv1.NetworkingMode_NETWORKING_MODE_BRIDGED,
		wslfwdv1.NetworkingMode_NETWORKING_MODE_VIRTIOPROXY,
		wslfwdv1.NetworkingMode_NETWORKING_MODE_NONE,
		wslfwdv1.NetworkingMode_NETWORKING_MODE_WSL1,
	} {
		if ModeName(m) == s {
			return m, true
		}
	}
	return wslfwdv1.NetworkingMode_NETWORKING_MODE_UNSPECIFIED, false
}

// ParseHost validates a --host value (the agent's and the CLI's): "host",
// "host:port", "[v6]:port" or a bare IPv6 address, with a port 1-65535. A
// missing port means the daemon's default port. The result is host:port in
// canonical form.
func ParseHost(s string) (string, error) {
	if s == "" || strings.ContainsAny(s, " \t\r\n/") {
		return "", fmt.Errorf("--host %q: want host or host:port", s)
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return netip.AddrPortFrom(a, DefaultPort).String(), nil
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		if strings.Contains(s, ":") || strings.ContainsAny(s, "[]") {
			return "", fmt.Errorf("--host %q: %w", s, err)
		}
		host, port = s, strconv.Itoa(DefaultPort)
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

// Package endpoint decides where a client inside WSL (the agent, or the CLI
// run in a distro) finds the host daemon.
package endpoint

import (
	"fmt"
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

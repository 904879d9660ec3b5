package controlclient

import (
	"fmt"
	"net/netip"

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
		addr, err := endpoint.ParseHost(hostFlag)
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

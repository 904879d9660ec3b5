//go:build linux

package controlclient

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/vishvananda/netlink"
)

// defaultGateway4 reads the IPv4 default route from the main routing table
// through netlink; with several, the lowest metric wins, as the kernel
// would choose.
func defaultGateway4() (netip.Addr, error) {
	routes, err := netlink.RouteList(nil, netlink.FAMILY_V4)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("list IPv4 routes: %w", err)
	}
	var best netip.Addr
	bestPrio := -1
	for _, r := range routes {
		if r.Dst != nil {
			if ones, _ := r.Dst.Mask.Size(); ones != 0 {
				continue
			}
		}
		gw, ok := netip.AddrFromSlice(r.Gw)
		if !ok {
			continue
		}
		if bestPrio < 0 || r.Priority < bestPrio {
			best, bestPrio = gw.Unmap(), r.Priority
		}
	}
	if bestPrio < 0 {
		return netip.Addr{}, errors.New("no IPv4 default route")
	}
	return best, nil
}

// Package winhost finds the WSL side from Windows: the host's address on
// the WSL virtual network (the "vEthernet (WSL)" adapter) and on the LAN.
// The distro listing both daemon and CLI use is internal/wsl.
package winhost

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// Adapter is a network adapter as Windows names it, with its addresses.
type Adapter struct {
	Name  string // friendly name, e.g. "vEthernet (WSL)"
	Addrs []netip.Addr
}

// The WSL adapter's names: "vEthernet (WSL)", or
// "vEthernet (WSL (Hyper-V firewall))" when the Hyper-V firewall is on.
// Only these exact names: a prefix would also match a user's own switch
// such as "vEthernet (WSLBridge)".
const (
	wslAdapter         = "vEthernet (WSL)"
	wslAdapterFirewall = "vEthernet (WSL (Hyper-V firewall))"
)

// ErrNoWSLAdapter means no adapter named "vEthernet (WSL)" (or its
// Hyper-V firewall name) has an IPv4 address: WSL is not running, runs in
// mirrored mode, or is WSL1.
var ErrNoWSLAdapter = errors.New(`no "vEthernet (WSL)" adapter with an IPv4 address (is WSL running in NAT mode?)`)

// IsWSL reports whether the adapter is the host side of WSL's NAT network.
// Windows compares adapter names without regard to case.
func (a Adapter) IsWSL() bool {
	return strings.EqualFold(a.Name, wslAdapter) || strings.EqualFold(a.Name, wslAdapterFirewall)
}

// WSLAddress returns the host's IPv4 address on the WSL network: the
// address the distros see as their default gateway. "vEthernet (WSL)"
// wins over the Hyper-V firewall name.
func WSLAddress(adapters []Adapter) (netip.Addr, string, error) {
	var found []Adapter
	for _, a := range adapters {
		if a.IsWSL() {
			found = append(found, a)
		}
	}
	for _, exact := range []bool{true, false} {
		for _, a := range found {
			if exact != strings.EqualFold(a.Name, wslAdapter) {
				continue
			}
			for _, ip := range a.Addrs {
				if ip.Is4() && !ip.IsLinkLocalUnicast() {
					return ip, a.Name, nil
				}
			}
		}
	}
	if len(found) > 0 {
		return netip.Addr{}, "", fmt.Errorf("%w: %q has none", ErrNoWSLAdapter, found[0].Name)
	}
	return netip.Addr{}, "", ErrNoWSLAdapter
}

// LANAddress returns the host's IPv4 address a LAN client would use: the
// first one, not loopback or link-local, of an adapter that is not a
// Hyper-V switch ("vEthernet (…)": WSL's, the Default Switch), else of a
// Hyper-V switch other than WSL's (an external switch bridges the LAN).
func LANAddress(adapters []Adapter) (netip.Addr, string, error) {
	for _, switches := range []bool{false, true} {
		for _, a := range adapters {
			if a.IsWSL() || switches != strings.HasPrefix(strings.ToLower(a.Name), "vethernet (") {
				continue
			}
			for _, ip := range a.Addrs {
				if ip.Is4() && !ip.IsLoopback() && !ip.IsLinkLocalUnicast() && !ip.IsUnspecified() {
					return ip, a.Name, nil
				}
			}
		}
	}
	return netip.Addr{}, "", errors.New("no adapter but WSL's has an IPv4 address: is this host on a LAN?")
}

//go:build !linux

package controlclient

import (
	"errors"
	"net/netip"
)

// defaultGateway4 is only needed inside WSL, which is Linux.
func defaultGateway4() (netip.Addr, error) {
	return netip.Addr{}, errors.New("default gateway lookup is only implemented on Linux")
}

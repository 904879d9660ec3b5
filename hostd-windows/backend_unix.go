//go:build !linux && !windows

package main

import (
	"fmt"

	"github.com/wslfwd/wslfwd/hostd-windows/backend"
	"github.com/wslfwd/wslfwd/hostd-windows/config"
)

// otherBackends names the backends newBackend makes here.
const otherBackends = "relay"

// newKernelBackend refuses: nftables is Linux's.
func newKernelBackend(backendOptions) (backend.Backend, error) {
	return nil, fmt.Errorf("backend %q (nftables rules) exists only on Linux; use relay", config.BackendKernel)
}

package main

import (
	"github.com/wslfwd/wslfwd/hostd-windows/backend"
	"github.com/wslfwd/wslfwd/hostd-windows/backend/kernel"
)

// otherBackends names the backends newBackend makes on Linux.
const otherBackends = "relay, kernel"

// newKernelBackend makes the table of nftables rules the kernel forwards
// by, in the daemon's network namespace.
func newKernelBackend(opts backendOptions) (backend.Backend, error) {
	return kernel.New(kernel.Options{Logger: opts.Logger})
}

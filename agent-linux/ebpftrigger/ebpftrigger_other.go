//go:build !linux

package ebpftrigger

import (
	"context"
	"errors"
)

// errLinuxOnly is what New returns on every other system.
var errLinuxOnly = errors.New("eBPF trigger is Linux-only")

// Trigger is never created outside Linux.
type Trigger struct{}

// New reports that the eBPF trigger needs Linux.
func New(Options) (*Trigger, error) { return nil, errLinuxOnly }

// Run reports that the eBPF trigger needs Linux.
func (*Trigger) Run(context.Context, func()) error { return errLinuxOnly }

// Close does nothing.
func (*Trigger) Close() error { return nil }

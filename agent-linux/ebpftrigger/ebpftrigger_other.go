//go:build !linux

package ebpftrigger

import (
	"context"
	"errors"

	"github.com/wslfwd/wslfwd/agent-linux/trigger"
)

// errLinuxOnly is what New returns on every other system.
var errLinuxOnly = errors.New("eBPF trigger is Linux-only")

// Trigger is never created outside Linux.
type Trigger struct{}

// New reports that the eBPF trigger needs Linux.
func New(Options) (*Trigger, error) { return nil, errLinuxOnly }

// RunEvents reports that the eBPF trigger needs Linux.
func (*Trigger) RunEvents(context.Context, func([]trigger.Event)) error { return errLinuxOnly }

// Close does nothing.
func (*Trigger) Close() error { return nil }

// Parts reports that nothing is live.
func (*Trigger) Parts() Parts { return Parts{TCP: errLinuxOnly, UDP: errLinuxOnly} }

//go:build !windows

package main

import (
	"context"
	"syscall"

	"github.com/wslfwd/wslfwd/cli/output"
	"github.com/wslfwd/wslfwd/internal/wsl"
)

// hostChecks are Windows-only; elsewhere there is nothing to add.
func hostChecks(context.Context, string) []output.Check { return nil }

// listRunning is nil: only Windows has wsl.exe.
var listRunning func(context.Context) (wsl.DistroList, error)

// errConnRefused is how the OS says nothing listens on a port.
var errConnRefused error = syscall.ECONNREFUSED

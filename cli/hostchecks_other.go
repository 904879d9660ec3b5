//go:build !windows

package main

import (
	"context"

	"github.com/wslfwd/wslfwd/cli/output"
	"github.com/wslfwd/wslfwd/hostd-windows/winhost"
)

// hostChecks are Windows-only; elsewhere there is nothing to add.
func hostChecks(context.Context, string) []output.Check { return nil }

// listDistros is nil: only Windows has wsl.exe.
var listDistros func(context.Context) ([]winhost.Distro, error)

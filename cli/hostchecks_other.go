//go:build !windows

package main

import (
	"context"

	"github.com/wslfwd/wslfwd/cli/output"
)

// hostChecks are Windows-only; elsewhere there is nothing to add.
func hostChecks(context.Context, string) []output.Check { return nil }

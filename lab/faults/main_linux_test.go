//go:build linux

package faults

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/wslfwd/wslfwd/lab/labrun"
)

// bin are the programs every test runs, built once by TestMain.
var bin labrun.Binaries

func TestMain(m *testing.M) {
	if spec := os.Getenv(churnEnv); spec != "" {
		// This binary was re-executed inside wsl as the churn helper.
		os.Exit(churnMain(spec))
	}
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if os.Geteuid() != 0 {
		return m.Run() // every test skips and says why
	}
	dir, err := os.MkdirTemp("", "wslfwd-faults-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "faults:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	bin, err = labrun.Build(ctx, dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "faults: build the programs:", err)
		return 1
	}
	return m.Run()
}

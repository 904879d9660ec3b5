//go:build linux

package faults

import (
	"os"
	"testing"

	"github.com/wslfwd/wslfwd/lab/labtest"
)

func TestMain(m *testing.M) {
	if spec := os.Getenv(churnEnv); spec != "" {
		// This binary was re-executed inside wsl as the churn helper.
		os.Exit(churnMain(spec))
	}
	os.Exit(labtest.Main(m, "faults"))
}

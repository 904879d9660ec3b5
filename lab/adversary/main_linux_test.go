//go:build linux

package adversary

import (
	"os"
	"testing"

	"github.com/wslfwd/wslfwd/lab/labtest"
)

// TestMain runs the tests, or, when the binary is started as one of the
// exhaustion tests' flood processes, that flood.
func TestMain(m *testing.M) {
	if spec := os.Getenv(floodEnv); spec != "" {
		os.Exit(floodChild(spec))
	}
	os.Exit(labtest.Main(m, "adversary"))
}

//go:build linux

package e2e

import (
	"os"
	"testing"

	"github.com/wslfwd/wslfwd/lab/labtest"
)

func TestMain(m *testing.M) {
	os.Exit(labtest.Main(m, "e2e"))
}

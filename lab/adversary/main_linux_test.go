//go:build linux

package adversary

import (
	"os"
	"testing"

	"github.com/wslfwd/wslfwd/lab/labtest"
)

func TestMain(m *testing.M) {
	os.Exit(labtest.Main(m, "adversary"))
}

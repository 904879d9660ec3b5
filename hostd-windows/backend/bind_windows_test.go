package backend_test

import (
	"net"
	"os"
	"syscall"
	"testing"

	"github.com/wslfwd/wslfwd/hostd-windows/backend"
)

// TestBindRefusalExcludedPort: Windows refuses a bind inside an excluded
// port range with WSAEACCES, which Go hands back inside an OpError.
func TestBindRefusalExcludedPort(t *testing.T) {
	err := &net.OpError{Op: "listen", Net: "tcp4", Err: os.NewSyscallError("bind", syscall.WSAEACCES)}
	if got := backend.BindRefusal(err); got != backend.ErrExcludedPort {
		t.Errorf("BindRefusal(%v) = %v, want ErrExcludedPort", err, got)
	}
}

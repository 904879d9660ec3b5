//go:build linux

package upgrade

import (
	"fmt"
	"net"
	"os"
	"testing"

	"github.com/wslfwd/wslfwd/lab/labtest"
	"github.com/wslfwd/wslfwd/lab/netlab"
)

// echoEnv, when set to an address, makes the test binary a TCP echo
// service on it instead of running tests: a service a distro's own
// process runs (see distro.listen).
const echoEnv = "WSLFWD_UPGRADE_ECHO"

func TestMain(m *testing.M) {
	if addr := os.Getenv(echoEnv); addr != "" {
		os.Exit(serveEcho(addr))
	}
	dir, err := os.MkdirTemp("", "wslfwd-upgrade-previous-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "upgrade: %v\n", err)
		os.Exit(1)
	}
	previousDir = dir
	code := labtest.Main(m, "upgrade")
	os.RemoveAll(dir)
	os.Exit(code)
}

// serveEcho answers TCP on addr with what each connection sends, until
// the process is killed.
func serveEcho(addr string) int {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "echo service: %v\n", err)
		return 1
	}
	fmt.Printf("echo service on %s\n", ln.Addr())
	netlab.Echo(ln)
	return 0
}

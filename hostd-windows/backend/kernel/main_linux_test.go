package kernel

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"syscall"
	"testing"

	"github.com/vishvananda/netlink"
)

// nsEnv marks the test binary re-run inside a network namespace of its
// own, made by the kernel for that process (clone with CLONE_NEWNET) and
// gone when it exits: the rules and sockets the tests make never reach
// the machine's namespace, and nothing is left to clean up on any exit
// path.
const nsEnv = "WSLFWD_KERNEL_TEST_NETNS"

// listenAddr is the address the tests' forwards listen on, on lo in
// that namespace.
var listenAddr = netip.MustParseAddr("10.77.0.1")

// inNS is set in the re-run binary once its namespace is ready; without
// it the tests that need the kernel skip, saying why.
var inNS string

func TestMain(m *testing.M) {
	switch {
	case os.Getenv(nsEnv) != "":
		if err := prepareNS(); err != nil {
			fmt.Fprintln(os.Stderr, "prepare the test's network namespace:", err)
			os.Exit(1)
		}
		inNS = "yes"
	case os.Geteuid() == 0:
		os.Exit(rerunInNS())
	}
	os.Exit(m.Run())
}

// rerunInNS runs this test binary again, with the same flags, in a new
// network namespace, and returns its exit code.
func rerunInNS() int {
	cmd := exec.Command(os.Args[0], os.Args[1:]...)
	cmd.Env = append(os.Environ(), nsEnv+"=1")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Run(); err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		fmt.Fprintln(os.Stderr, "re-run the tests in a new network namespace:", err)
		return 1
	}
	return 0
}

// prepareNS brings loopback up with listenAddr beside 127.0.0.1: an
// address of the host's own that is not loopback, as a LAN address is
// (a dummy link would do, where the kernel has that driver).
func prepareNS() error {
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		return err
	}
	if err := netlink.LinkSetUp(lo); err != nil {
		return fmt.Errorf("lo up: %w", err)
	}
	addr, err := netlink.ParseAddr(listenAddr.String() + "/32")
	if err != nil {
		return err
	}
	if err := netlink.AddrAdd(lo, addr); err != nil {
		return fmt.Errorf("add %s to lo: %w", listenAddr, err)
	}
	return nil
}

// needNS skips a test that needs the kernel's nftables, saying why.
func needNS(t *testing.T) {
	t.Helper()
	if inNS == "" {
		t.Skip("needs root: the test re-runs itself in a network namespace of its own to write nftables rules")
	}
}

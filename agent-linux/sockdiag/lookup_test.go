//go:build linux

package sockdiag_test

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/wslfwd/wslfwd/agent-linux/internal/socktest"
	"github.com/wslfwd/wslfwd/agent-linux/sockdiag"
)

// Lookup finds the other end of a connection in the namespace, with its
// owner, or the listener a connection would reach, and nothing where
// neither is.
func TestLookup(t *testing.T) {
	s, err := sockdiag.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, loopback := range []string{"127.0.0.1", "::1"} {
		c, served := socktest.Pair(t, loopback)
		server := served.LocalAddr().(*net.TCPAddr).AddrPort()
		client := c.LocalAddr().(*net.TCPAddr).AddrPort()
		sk, found, err := s.Lookup(server, client)
		if err != nil || !found || sk.UID != uint32(os.Getuid()) || sk.Inode == 0 {
			t.Errorf("%s: the other end of a connection: %+v, found %v, %v; want uid %d", loopback, sk, found, err, os.Getuid())
		}
		// The client's own end, seen from the server's side, is found too.
		if _, found, err := s.Lookup(client, server); err != nil || !found {
			t.Errorf("%s: the client's end: found %v, %v", loopback, found, err)
		}
		// No connection from there, but a listener would take one.
		ln, err := net.Listen("tcp", net.JoinHostPort(loopback, "0"))
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		listening := ln.Addr().(*net.TCPAddr).AddrPort()
		if _, found, err := s.Lookup(listening, client); err != nil || !found {
			t.Errorf("%s: a listener for a connection not made: found %v, %v", loopback, found, err)
		}
	}
	// Nothing there at all.
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	nothing := free.Addr().(*net.TCPAddr).AddrPort()
	free.Close()
	if sk, found, err := s.Lookup(nothing, netip.MustParseAddrPort("127.0.0.1:40000")); err != nil || found {
		t.Errorf("no socket: %+v, found %v, %v; want not found", sk, found, err)
	}
}

// listenerEnv makes the test binary a listener of another user's, for
// TestPeerOfAnotherUser: it listens on 127.0.0.1 (with
// TCP_DEFER_ACCEPT when the value is "defer"), prints the port and holds
// the socket until its standard input closes.
const listenerEnv = "SOCKDIAG_TEST_LISTENER"

func TestMain(m *testing.M) {
	if mode := os.Getenv(listenerEnv); mode != "" {
		os.Exit(listenAsChild(mode))
	}
	os.Exit(m.Run())
}

func listenAsChild(mode string) int {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err == nil && mode == "defer" {
		err = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_DEFER_ACCEPT, 30)
	}
	if err == nil {
		err = unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}})
	}
	if err == nil {
		err = unix.Listen(fd, 8)
	}
	var sa unix.Sockaddr
	if err == nil {
		sa, err = unix.Getsockname(fd)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "listener:", err)
		return 1
	}
	fmt.Println(sa.(*unix.SockaddrInet4).Port)
	io.Copy(io.Discard, os.Stdin)
	return 0
}

// The other end of a connection to another user's listener is that
// user's, whether the listener has its connection queued or, with
// TCP_DEFER_ACCEPT, only a request socket, which sock_diag reports as
// root's: Peer must look past it to the listener.
func TestPeerOfAnotherUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: runs a listener as another user (uid 65534)")
	}
	s, err := sockdiag.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	self := copyForOthers(t)
	for _, mode := range []string{"plain", "defer"} {
		cmd := exec.Command(self)
		cmd.Env = append(os.Environ(), listenerEnv+"="+mode)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		stdin, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		var port uint16
		if _, err := fmt.Fscan(out, &port); err != nil {
			t.Fatalf("%s listener: %v", mode, err)
		}
		server := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port)
		c, err := net.Dial("tcp", server.String())
		if err != nil {
			t.Fatal(err)
		}
		client := c.LocalAddr().(*net.TCPAddr).AddrPort()
		sk, found, err := s.Peer(server, client)
		if err != nil || !found || sk.UID != 65534 {
			t.Errorf("%s: the other end of a connection to uid 65534's listener: %+v, found %v, %v", mode, sk, found, err)
		}
		c.Close()
		stdin.Close()
		cmd.Wait()
	}
}

// A listener on a wildcard address matches a lookup for any address, but
// with no connection from there it is not the other end of one: the
// daemon's real address in NAT mode, with a user's listener on its port.
func TestPeerIgnoresAListenerAlone(t *testing.T) {
	s, err := sockdiag.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ln, err := net.Listen("tcp4", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).AddrPort().Port()
	daemon := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.2"), port)
	if sk, found, err := s.Peer(daemon, netip.MustParseAddrPort("127.0.0.1:40000")); err != nil || found {
		t.Errorf("a wildcard listener and no connection: %+v, found %v, %v; want not found", sk, found, err)
	}
}

// copyForOthers copies the test binary where another user may run it: the
// build directory is its owner's alone.
func copyForOthers(t *testing.T) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "sockdiag-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := dir + "/sockdiag.test"
	if err := os.WriteFile(path, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

//go:build linux

package netlab

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wslfwd/wslfwd/internal/waitfor"
)

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces")
	}
}

// newLab builds a lab that the test's cleanup closes.
func newLab(t *testing.T) *Lab {
	t.Helper()
	needRoot(t)
	l, err := New(t.TempDir())
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return l
}

// echoServer accepts connections on ln and echoes each back until ln closes.
func echoServer(t *testing.T, ln net.Listener) {
	t.Helper()
	t.Cleanup(func() { ln.Close() })
	go Echo(ln)
}

// roundTrip dials addr from ns and checks that a message comes back.
func roundTrip(ctx context.Context, ns *NS, addr netip.AddrPort) error {
	c, err := ns.Dial(ctx, "tcp", addr.String())
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	msg := "hello from " + ns.Name
	if _, err := io.WriteString(c, msg); err != nil {
		return err
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(c, buf); err != nil {
		return err
	}
	if string(buf) != msg {
		return errors.New("echo mismatch: " + string(buf))
	}
	return nil
}

func TestTopologyReachability(t *testing.T) {
	l := newLab(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	// The host listens on both of its sides.
	ln, err := l.WinHost.Listen("tcp", "0.0.0.0:7000")
	if err != nil {
		t.Fatal(err)
	}
	echoServer(t, ln)
	ln6, err := l.WinHost.Listen("tcp", "[::]:7006")
	if err != nil {
		t.Fatal(err)
	}
	echoServer(t, ln6)

	for _, c := range []struct {
		from *NS
		to   netip.Addr
		port uint16
	}{
		{l.LAN, HostLANAddr.Addr(), 7000},
		{l.WSL, HostWSLAddr.Addr(), 7000},
		{l.LAN, HostLANAddr6.Addr(), 7006},
		{l.WSL, HostWSLAddr6.Addr(), 7006},
	} {
		if err := roundTrip(ctx, c.from, netip.AddrPortFrom(c.to, c.port)); err != nil {
			t.Errorf("%s → %s:%d: %v", c.from.Name, c.to, c.port, err)
		}
	}

	// The host does not route: lan cannot reach the distro directly, even
	// with a route to it. Only a forward on the host bridges the two.
	wln, err := l.WSL.Listen("tcp", "0.0.0.0:7001")
	if err != nil {
		t.Fatal(err)
	}
	echoServer(t, wln)
	if err := l.LAN.DefaultRoute(LANLink, HostLANAddr.Addr()); err != nil {
		t.Fatal(err)
	}
	short, cancelShort := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancelShort()
	if err := roundTrip(short, l.LAN, netip.AddrPortFrom(WSLAddr.Addr(), 7001)); err == nil {
		t.Error("lan reached wsl directly; the host must not route between them")
	}
	// From the host the distro is reachable, as on Windows.
	if err := roundTrip(ctx, l.WinHost, netip.AddrPortFrom(WSLAddr.Addr(), 7001)); err != nil {
		t.Errorf("winhost → wsl: %v", err)
	}
}

func TestSocketsKeepTheirNamespace(t *testing.T) {
	l := newLab(t)
	// A listener opened in wsl on the distro's address can only exist
	// there: the address is not assigned anywhere else.
	ln, err := l.WSL.Listen("tcp", netip.AddrPortFrom(WSLAddr.Addr(), 0).String())
	if err != nil {
		t.Fatalf("listen on the distro address inside wsl: %v", err)
	}
	ln.Close()
	if _, err := net.Listen("tcp", netip.AddrPortFrom(WSLAddr.Addr(), 0).String()); err == nil {
		t.Fatal("the distro's address is bindable outside the lab: Do leaked the namespace")
	}
	// The calling goroutine's thread is back where it was.
	if ifs, err := net.InterfaceByName(HostWSLLink); err == nil {
		t.Fatalf("host interface %s visible outside the lab: %+v", HostWSLLink, ifs)
	}
}

func TestCommandRunsInside(t *testing.T) {
	l := newLab(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := l.WSL.Command(ctx, "cat", "/proc/net/route").CombinedOutput()
	if err != nil {
		t.Fatalf("cat /proc/net/route in wsl: %v\n%s", err, out)
	}
	// Default route via 172.28.240.1 (little-endian hex 01F01CAC) on eth0.
	if !strings.Contains(string(out), "eth0\t00000000\t01F01CAC") {
		t.Errorf("wsl's route table lacks the default via %s:\n%s", HostWSLAddr.Addr(), out)
	}
}

func TestProcLifecycle(t *testing.T) {
	l := newLab(t)
	p, err := l.Start("sleeper", l.WSL.Command(context.Background(), "sh", "-c", "echo started; exec sleep 600"))
	if err != nil {
		t.Fatal(err)
	}
	waitfor.Cond(t, 5*time.Second, "log line", func() bool { return strings.Contains(p.Log(), "started") })
	if exited, _ := p.Exited(); exited {
		t.Fatal("exited early")
	}
	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}
	exited, werr := p.Exited()
	var ee *exec.ExitError
	if !exited || !errors.As(werr, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("after Kill: exited=%v err=%v, want killed by SIGKILL", exited, werr)
	}

	p2, err := l.Start("sleeper", l.WSL.Command(context.Background(), "sleep", "600"))
	if err != nil {
		t.Fatal(err)
	}
	if p2.LogPath == p.LogPath {
		t.Errorf("second start of the same name reuses log %s", p.LogPath)
	}
	if err := p2.Stop(5 * time.Second); err == nil {
		t.Error("Stop of sleep: want the signal exit error, got nil")
	}
}

func TestAddressChangeAndLinkFlap(t *testing.T) {
	l := newLab(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ln, err := l.WinHost.Listen("tcp", "0.0.0.0:7002")
	if err != nil {
		t.Fatal(err)
	}
	echoServer(t, ln)
	host := netip.AddrPortFrom(HostWSLAddr.Addr(), 7002)

	newAddr := netip.MustParsePrefix("172.28.240.54/20")
	if err := l.SetWSLAddress(WSLAddr, newAddr); err != nil {
		t.Fatal(err)
	}
	c, err := l.WSL.Dial(ctx, "tcp", host.String())
	if err != nil {
		t.Fatalf("wsl → host after address change: %v", err)
	}
	local := c.LocalAddr().(*net.TCPAddr).AddrPort().Addr()
	c.Close()
	if local != newAddr.Addr() {
		t.Errorf("wsl's source address = %s, want %s", local, newAddr.Addr())
	}

	if err := l.SetWSLLinkUp(false); err != nil {
		t.Fatal(err)
	}
	short, cancelShort := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancelShort()
	if err := roundTrip(short, l.WSL, host); err == nil {
		t.Error("reached the host with eth0 down")
	}
	if err := l.SetWSLLinkUp(true); err != nil {
		t.Fatal(err)
	}
	if err := roundTrip(ctx, l.WSL, host); err != nil {
		t.Errorf("wsl → host after link up: %v", err)
	}
}

func TestCloseLeavesNothing(t *testing.T) {
	needRoot(t)
	rootLinks, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	l, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	during, _ := List(l.ID)
	for _, ns := range []*NS{l.LAN, l.WinHost, l.WSL} {
		if !slices.Contains(during, ns.Name) {
			t.Errorf("namespace %s not listed while the lab runs: %v", ns.Name, during)
		}
	}
	p, err := l.Start("sleeper", l.WinHost.Command(context.Background(), "sleep", "600"))
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if exited, _ := p.Exited(); !exited {
		t.Error("process still running after Close")
	}
	after, err := List(l.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != 0 {
		t.Errorf("namespaces left after Close: %v", after)
	}
	if now, _ := net.Interfaces(); len(now) != len(rootLinks) {
		t.Errorf("the machine's interfaces changed: %d before, %d after", len(rootLinks), len(now))
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestCleanRemovesLeftovers(t *testing.T) {
	needRoot(t)
	l, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	// A process lives on in a namespace, untracked by the lab, as after a
	// crash.
	orphan := l.WSL.Command(context.Background(), "sleep", "600")
	if err := orphan.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = orphan.Wait(); close(done) }()
	t.Cleanup(func() { _ = orphan.Process.Kill() })

	// While the lab is open, Clean leaves it alone.
	removed, inUse, err := Clean(l.ID, false)
	if err != nil || len(removed) != 0 || len(inUse) != 3 {
		t.Fatalf("Clean of a live lab: removed %v, in use %v, err %v; want all 3 in use", removed, inUse, err)
	}
	// Once nothing holds the namespaces open, as after a crash, it removes
	// them and kills what ran inside.
	for _, ns := range []*NS{l.LAN, l.WinHost, l.WSL} {
		ns.h.Close()
	}
	removed, inUse, err = Clean(l.ID, false)
	if err != nil {
		t.Fatalf("Clean: %v", err)
	}
	if len(inUse) != 0 {
		t.Errorf("Clean says %v are in use after their lab let go", inUse)
	}
	for _, ns := range []*NS{l.LAN, l.WinHost, l.WSL} {
		if !slices.Contains(removed, ns.Name) {
			t.Errorf("Clean did not remove %s (removed %v)", ns.Name, removed)
		}
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Error("Clean left the process inside the namespace running")
	}
	if left, _ := List(l.ID); len(left) != 0 {
		t.Errorf("namespaces left after Clean: %v", left)
	}
}

func TestCleanForceRemovesLiveLab(t *testing.T) {
	needRoot(t)
	l, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	removed, inUse, err := Clean(l.ID, true)
	if err != nil || len(removed) != 3 || len(inUse) != 0 {
		t.Fatalf("forced Clean: removed %v, in use %v, err %v; want all 3 removed", removed, inUse, err)
	}
	if err := l.Close(); err != nil {
		t.Errorf("Close after a forced Clean: %v", err)
	}
}

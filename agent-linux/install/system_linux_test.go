package install

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/wslfwd/wslfwd/internal/waitfor"
)

// TestMain doubles as a stand-in agent for TestHostStartsFindsStops:
// with WSLFWD_TEST_AGENT set it waits to be stopped.
func TestMain(m *testing.M) {
	if os.Getenv("WSLFWD_TEST_AGENT") != "" {
		fmt.Println("stand-in agent", os.Args[1:])
		time.Sleep(time.Minute) // SIGTERM ends it sooner
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// The real System starts a command line in the background as WSL's boot
// command would, finds the agent it started by its binary, and stops it.
// The agent is a copy of this test binary in a temporary directory.
func TestHostStartsFindsStops(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "wslfwd-agent")
	copyFile(t, os.Args[0], exe)
	log := filepath.Join(dir, "agent.log")
	var h Host
	pids := func() []int {
		p, err := h.Agents(exe)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	t.Cleanup(func() {
		for _, pid := range pids() {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	if got := pids(); len(got) != 0 {
		t.Fatalf("agents of a new binary: %v", got)
	}
	if err := h.Start(fmt.Sprintf("WSLFWD_TEST_AGENT=1 nohup %s run --distro Lab >>%s 2>&1 &", exe, log)); err != nil {
		t.Fatal(err)
	}
	waitfor.Cond(t, 10*time.Second, "the started agent to run", func() bool { return len(pids()) == 1 })
	pid := pids()[0]
	if sid, _ := unix.Getsid(pid); sid == mustGetsid(t) {
		t.Errorf("the agent is in the test's session %d, want one of its own", sid)
	}
	waitfor.Cond(t, 10*time.Second, "the agent's log line", func() bool {
		b, _ := os.ReadFile(log)
		return string(b) == "stand-in agent [run --distro Lab]\n"
	})
	if err := h.Stop(pid); err != nil {
		t.Fatal(err)
	}
	if !exited(pid) || slices.Contains(pids(), pid) {
		t.Errorf("pid %d runs on after Stop", pid)
	}
}

func mustGetsid(t *testing.T) int {
	sid, err := unix.Getsid(0)
	if err != nil {
		t.Fatal(err)
	}
	return sid
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}

// NewSystem runs nothing for a tree under --root, and reads systemd's
// presence from the tree.
func TestOfflineSystem(t *testing.T) {
	root := t.TempDir()
	s := NewSystem(root)
	if s.Systemd() {
		t.Error("a tree without run/systemd/system reads as systemd")
	}
	if err := os.MkdirAll(filepath.Join(root, "run/systemd/system"), 0o755); err != nil {
		t.Fatal(err)
	}
	if !s.Systemd() {
		t.Error("a tree with run/systemd/system does not read as systemd")
	}
	if s.Systemctl("daemon-reload") != ErrOffline || s.Start("true &") != ErrOffline || s.Stop(1) != ErrOffline {
		t.Error("an offline system ran something")
	}
	if _, ok := NewSystem("/").(Host); !ok {
		t.Error(`NewSystem("/") is not the running system`)
	}
}

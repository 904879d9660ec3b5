package localstatus_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/wslfwd/wslfwd/agent-linux/localstatus"
	"github.com/wslfwd/wslfwd/internal/waitfor"
)

// fetchEnv makes the test binary a status client (see TestMain): the
// child processes that connect as another user.
const fetchEnv = "WSLFWD_LOCALSTATUS_FETCH"

func TestMain(m *testing.M) {
	if path := os.Getenv(fetchEnv); path != "" {
		if _, err := localstatus.Fetch(context.Background(), path); err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		fmt.Println("ok")
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// socketPath is a socket path in a directory the server is to create.
func socketPath(t *testing.T) string {
	return filepath.Join(t.TempDir(), "run", "agent.sock")
}

// serve starts a server at path answering build's document and returns
// a function that stops it and waits until it has.
func serve(t *testing.T, path string, build func(context.Context) localstatus.Document) (stop func()) {
	t.Helper()
	srv, err := localstatus.Listen(path, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(ctx, build)
	}()
	stop = func() {
		cancel()
		<-done
	}
	t.Cleanup(stop)
	return stop
}

func fixed(distro string) func(context.Context) localstatus.Document {
	return func(context.Context) localstatus.Document { return localstatus.Document{Distro: distro} }
}

func fetch(t *testing.T, path string) localstatus.Document {
	t.Helper()
	doc, err := localstatus.Fetch(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// The server makes its directory owner-only, the socket too, answers
// each connection with one document, and removes the socket and its lock
// when it stops; the client then says no agent runs.
func TestServeFetchAndCleanUp(t *testing.T) {
	path := socketPath(t)
	stop := serve(t, path, fixed("Ubuntu"))
	if doc := fetch(t, path); doc.Distro != "Ubuntu" {
		t.Fatalf("document %+v", doc)
	}
	for p, want := range map[string]fs.FileMode{filepath.Dir(path): fs.ModeDir | 0o700, path: fs.ModeSocket | 0o600} {
		fi, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != want {
			t.Errorf("%s: mode %v, want %v", p, fi.Mode(), want)
		}
	}
	stop()
	left, _ := os.ReadDir(filepath.Dir(path))
	if len(left) != 0 {
		t.Errorf("left behind after stop: %v", left)
	}
	_, err := localstatus.Fetch(context.Background(), path)
	if err == nil || !strings.Contains(err.Error(), "no agent is running: the status socket "+path+" does not exist") {
		t.Errorf("fetch after stop: %v; want no agent is running, the socket does not exist", err)
	}
}

// A socket a crashed agent left is replaced; before that, the client
// says what it is.
func TestStaleSocketReplaced(t *testing.T) {
	path := socketPath(t)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close() // as a crash leaves it
	if _, err := localstatus.Fetch(context.Background(), path); err == nil || !strings.Contains(err.Error(), "left from an agent that stopped") {
		t.Errorf("fetch from a stale socket: %v; want it named as left from a stopped agent", err)
	}
	serve(t, path, fixed("Debian"))
	if doc := fetch(t, path); doc.Distro != "Debian" {
		t.Fatalf("document %+v", doc)
	}
}

// A second server on a live agent's path is refused and the first keeps
// serving; anything but a socket at the path is not removed.
func TestLiveSocketNotClobbered(t *testing.T) {
	path := socketPath(t)
	serve(t, path, fixed("first"))
	if _, err := localstatus.Listen(path, slog.New(slog.DiscardHandler)); !errors.Is(err, localstatus.ErrInUse) {
		t.Fatalf("second Listen: %v, want ErrInUse", err)
	}
	if doc := fetch(t, path); doc.Distro != "first" {
		t.Fatalf("document %+v, want the first server's", doc)
	}

	other := socketPath(t)
	if err := os.MkdirAll(filepath.Dir(other), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(other, []byte("mine"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := localstatus.Listen(other, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "is not a socket") {
		t.Errorf("Listen over a regular file: %v, want refused", err)
	}
	if b, _ := os.ReadFile(other); string(b) != "mine" {
		t.Errorf("the regular file was changed: %q", b)
	}
}

// A directory others may enter is refused: the socket must sit where
// only this user can reach it.
func TestSharedDirectoryRefused(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := localstatus.Listen(filepath.Join(dir, "agent.sock"), slog.New(slog.DiscardHandler)); err == nil ||
		!strings.Contains(err.Error(), "chmod 700") {
		t.Errorf("Listen in a 0755 directory: %v, want refused with the fix", err)
	}
}

// asUser runs the test binary as a status client of path as uid 65534,
// with CAP_DAC_OVERRIDE when reach (so it can reach the socket through
// the owner-only directory and the server's own check is what answers).
func asUser(t *testing.T, path string, reach bool) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: connects as another user (uid 65534)")
	}
	cmd := exec.Command(userBinary(t))
	cmd.Env = append(os.Environ(), fetchEnv+"="+path)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	if reach {
		cmd.SysProcAttr.AmbientCaps = []uintptr{1} // CAP_DAC_OVERRIDE
	}
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("run the client as uid 65534: %v", err)
	}
	return string(out)
}

// userBinary copies the test binary where uid 65534 may run it: go test
// builds it in root's private directory.
func userBinary(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, d := range []string{dir, filepath.Dir(dir)} { // the test's own directories
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(dir, "client")
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return bin
}

// Another user is refused twice over: the directory keeps it from the
// socket, and a process that gets past (CAP_DAC_OVERRIDE) is refused by
// its uid, which the kernel recorded at connect.
func TestOtherUserRefused(t *testing.T) {
	path := socketPath(t)
	var built atomic.Int32
	serve(t, path, func(context.Context) localstatus.Document {
		built.Add(1)
		return localstatus.Document{Distro: "Ubuntu"}
	})
	if out := asUser(t, path, false); !strings.Contains(out, "permission denied on "+path) || !strings.Contains(out, "sudo") {
		t.Errorf("non-root client: %q; want permission denied naming the socket and sudo", out)
	}
	if out := asUser(t, path, true); !strings.Contains(out, "refused: permission denied: uid 65534") {
		t.Errorf("non-root client past the directory: %q; want refused by uid", out)
	}
	if n := built.Load(); n != 0 {
		t.Errorf("a document was built %d times for a refused peer", n)
	}
}

// Past MaxConns requests at once, a connection is closed unanswered; a
// client that does not read is cut off by the write deadline, and what
// it sends is never read. Either way the server answers again after.
func TestBoundedClients(t *testing.T) {
	path := socketPath(t)
	release := make(chan struct{})
	var building atomic.Int32
	big := localstatus.Document{Listeners: make([]localstatus.Listener, 20000)} // ~1 MB: more than a socket buffer
	serve(t, path, func(ctx context.Context) localstatus.Document {
		building.Add(1)
		defer building.Add(-1)
		select {
		case <-release:
		case <-ctx.Done():
		}
		return big
	})
	var held []net.Conn
	for range localstatus.MaxConns {
		c, err := net.Dial("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
		// A client that writes what it likes and never reads.
		go c.Write(make([]byte, 1<<16))
	}
	waitfor.Cond(t, 10*time.Second, "every slot building", func() bool { return building.Load() == localstatus.MaxConns })
	if _, err := localstatus.Fetch(context.Background(), path); err == nil || !strings.Contains(err.Error(), "without an answer") {
		t.Errorf("fetch past the limit: %v, want closed without an answer", err)
	}
	close(release)
	waitfor.Cond(t, 10*time.Second, "an answer after the slow clients are cut off", func() bool {
		_, err := localstatus.Fetch(context.Background(), path)
		return err == nil
	})
	for _, c := range held {
		c.Close()
	}
}

// The client reads at most MaxDocument from whatever serves the path.
func TestFetchBounded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "endless.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		chunk := make([]byte, 1<<20)
		for {
			if _, err := c.Write(chunk); err != nil {
				return
			}
		}
	}()
	if _, err := localstatus.Fetch(context.Background(), path); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("fetch from an endless peer: %v, want refused as too large", err)
	}
}

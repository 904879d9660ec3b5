//go:build linux

package faults

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/lab/labrun"
)

// recoverWithin bounds how long the daemon may take, once its state
// directory can be written again, to stop reporting the problem and to
// take a static forward.
const recoverWithin = 20 * time.Second

// The daemon's state directory fills up. The relay backend keeps no
// ownership record on disk (its forwards end with the daemon), so
// forwarding goes on as if nothing happened: the old forward stays and a
// new one becomes ACTIVE. The daemon still reports the problem, refuses
// what does need the directory (a static forward, which must survive a
// restart) with an error naming it and without changing anything, and
// takes it once there is room again. The directory is a 64 KiB tmpfs the
// test mounts and fills.
func TestStateDirFull(t *testing.T) {
	dir := privateDir(t)
	mount(t, "tmpfs", dir, "tmpfs", 0, "size=64k,mode=0700")
	filler := filepath.Join(dir, "filler")
	testStateDirFault(t, dir,
		func() error { return fill(filler) },
		func() error { return os.Remove(filler) })
}

// The daemon's state directory turns read-only (a read-only bind mount
// over it): as with a full one, forwarding goes on, the problem is
// reported, a static forward is refused with nothing changed, and taken
// once the directory is writable again.
func TestStateDirReadOnly(t *testing.T) {
	dir := privateDir(t)
	var undo func() error
	testStateDirFault(t, dir,
		func() (err error) {
			undo, err = readOnlyBind(t, dir)
			return err
		},
		func() error { return undo() })
}

// staticPort is the port testStateDirFault exposes: nothing listens there
// in wsl, and checkExact's sample of closed ports skips it.
const staticPort = 20003

// testStateDirFault runs the daemon (relay backend) on stateDir, breaks
// the directory with breakDir while a service runs, opens another, checks
// that forwarding does not depend on the directory while the daemon still
// reports it and refuses a static forward, then mends the directory and
// checks that the static forward is taken.
func testStateDirFault(t *testing.T, stateDir string, breakDir, mendDir func() error) {
	ctx, env := startWithAgent(t, labrun.Options{DaemonArgs: []string{"--state-dir", stateDir}}, 60*time.Second)
	svc := newServices(t, env.Lab.WSL)
	svc.open(20001)
	checkExact(ctx, t, env, exactOptions{dialAll: true})

	if err := breakDir(); err != nil {
		t.Fatal(err)
	}
	// The relay needs no disk: the new forward comes up, the old one stays.
	svc.open(20002)
	checkExact(ctx, t, env, exactOptions{dialAll: true})

	var problem *wslfwdv1.Problem
	err := env.Wait(ctx, "GetStatus to report the state directory", func(ctx context.Context) (bool, error) {
		var err error
		problem, err = stateProblem(ctx, env)
		return problem != nil, err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("GetStatus problem: %s: %s (hint: %s)", problem.GetCode(), problem.GetMessage(), problem.GetHint())
	out, err := env.CLI(ctx, "status")
	if !strings.Contains(out, problem.GetCode()) {
		t.Errorf("wslfwd status does not show the problem %q (err %v):\n%s", problem.GetCode(), err, out)
	}

	// A static forward is saved before it is made, so it is refused, with
	// the reason, and nothing changes: no file, no row, no relay socket.
	statics := filepath.Join(stateDir, "statics.json")
	expose := strconv.Itoa(staticPort)
	out, err = env.CLI(ctx, "expose", expose)
	switch {
	case err == nil:
		t.Errorf("wslfwd expose %s with the state directory broken succeeded:\n%s", expose, out)
	case !strings.Contains(err.Error(), stateDir):
		t.Errorf("wslfwd expose %s failed without naming the state directory %s: %v", expose, stateDir, err)
	default:
		t.Logf("expose refused: %v", err)
	}
	if _, err := os.Stat(statics); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s after the refused expose: %v, want it missing", statics, err)
	}
	if rows, err := env.Select(ctx, labrun.Match{Protocol: tcp, Port: staticPort}); err != nil || len(rows) != 0 {
		t.Errorf("forwards on port %d after the refused expose: %v (err %v), want none", staticPort, rows, err)
	}
	checkExact(ctx, t, env, exactOptions{dialAll: true})

	if err := mendDir(); err != nil {
		t.Fatal(err)
	}
	mended := time.Now()
	rctx, cancel := context.WithTimeout(ctx, recoverWithin)
	defer cancel()
	err = env.Wait(rctx, "GetStatus to stop reporting the state directory", func(ctx context.Context) (bool, error) {
		p, err := stateProblem(ctx, env)
		return p == nil, err
	})
	if err != nil {
		t.Fatal(err)
	}
	out, err = env.CLI(rctx, "expose", expose)
	if err != nil {
		t.Fatalf("wslfwd expose %s once the state directory is mended: %v", expose, err)
	}
	t.Logf("wslfwd expose %s: %s", expose, strings.TrimSpace(out))
	f, err := env.WaitForward(rctx, labrun.Match{Protocol: tcp, Port: staticPort, State: active})
	if err != nil {
		t.Fatal(err)
	}
	if f.GetOrigin() != wslfwdv1.ForwardOrigin_FORWARD_ORIGIN_STATIC {
		t.Errorf("the forward on port %d is not the static one: %s", staticPort, describe(f))
	}
	if _, err := os.Stat(statics); err != nil {
		t.Errorf("the static forward is not saved: %v", err)
	}
	t.Logf("static forward taken %v after the state directory was mended", time.Since(mended).Round(time.Millisecond))
	if _, err := env.CLI(ctx, "unexpose", expose); err != nil {
		t.Fatal(err)
	}
	checkExact(ctx, t, env, exactOptions{dialAll: true})

	// Nor did the relay write an ownership ledger at any time.
	if _, err := os.Stat(filepath.Join(stateDir, "ledger-relay.json")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ledger-relay.json in the state directory: %v, want none (relay forwards end with the daemon)", err)
	}
}

// stateProblem returns GetStatus's state-dir-unwritable problem, or nil.
// The daemon's probe writes and syncs a block, so a full file system is
// reported even while nothing the relay does needs the directory.
func stateProblem(ctx context.Context, env *labrun.Env) (*wslfwdv1.Problem, error) {
	st, err := env.Control.GetStatus(ctx, &wslfwdv1.GetStatusRequest{})
	if err != nil {
		return nil, fmt.Errorf("GetStatus: %w", err)
	}
	for _, p := range st.GetProblems() {
		if p.GetCode() == "state-dir-unwritable" {
			return p, nil
		}
	}
	return nil, nil
}

// privateDir makes an owner-only directory for a state directory.
func privateDir(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: mounts over the daemon's state directory")
	}
	dir := filepath.Join(t.TempDir(), "state")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	return dir
}

// mount mounts and unmounts when the test ends (after the lab is gone,
// since cleanups run last-registered first and the lab starts later).
func mount(t *testing.T, source, target, fstype string, flags uintptr, data string) {
	t.Helper()
	if err := unix.Mount(source, target, fstype, flags, data); err != nil {
		t.Fatalf("mount %s on %s: %v", fstype, target, err)
	}
	t.Cleanup(func() { unmount(t, target) })
}

// unmount unmounts target; a mount that is busy is detached instead.
func unmount(t *testing.T, target string) {
	err := unix.Unmount(target, 0)
	if errors.Is(err, syscall.EBUSY) {
		err = unix.Unmount(target, unix.MNT_DETACH)
	}
	if err != nil && !errors.Is(err, syscall.EINVAL) { // EINVAL: not mounted
		t.Errorf("unmount %s: %v", target, err)
	}
}

// readOnlyBind makes dir read-only by binding it over itself and
// remounting the bind read-only; undo unmounts the bind. The test's
// cleanup unmounts it too if undo is never called.
func readOnlyBind(t *testing.T, dir string) (undo func() error, err error) {
	if err := unix.Mount(dir, dir, "", unix.MS_BIND, ""); err != nil {
		return nil, fmt.Errorf("bind %s: %w", dir, err)
	}
	mounted := true
	t.Cleanup(func() {
		if mounted {
			unmount(t, dir)
		}
	})
	if err := unix.Mount("", dir, "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY, ""); err != nil {
		return nil, fmt.Errorf("remount %s read-only: %w", dir, err)
	}
	return func() error {
		if err := unix.Unmount(dir, 0); err != nil {
			return fmt.Errorf("unmount the read-only bind of %s: %w", dir, err)
		}
		mounted = false
		return nil
	}, nil
}

// fill writes to path until the file system is full.
func fill(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	buf := make([]byte, 4096)
	for range 1 << 12 { // at most 16 MiB: the tmpfs is far smaller
		if _, err := f.Write(buf); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				return nil
			}
			return fmt.Errorf("fill %s: %w", path, err)
		}
	}
	return fmt.Errorf("fill %s: 16 MiB written and still not full", path)
}

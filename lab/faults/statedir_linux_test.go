//go:build linux

package faults

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/lab/labrun"
)

// recoverWithin bounds how long the daemon may take to converge once its
// state directory can be written again, with no other change to wake it.
const recoverWithin = 20 * time.Second

// The daemon's state directory fills up: the daemon keeps serving,
// reports the problem, keeps the forwards it has, reports new ones as
// ERROR with the reason, and converges once there is room again. The
// directory is a 64 KiB tmpfs the test mounts and fills.
func TestStateDirFull(t *testing.T) {
	dir := privateDir(t)
	mount(t, "tmpfs", dir, "tmpfs", 0, "size=64k,mode=0700")
	filler := filepath.Join(dir, "filler")
	testStateDirFault(t, dir,
		func() error { return fill(filler) },
		func() error { return os.Remove(filler) })
}

// The daemon's state directory turns read-only (a read-only bind mount
// over it): as with a full one, the daemon keeps serving, reports it,
// loses nothing, and converges once it is writable again.
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

// testStateDirFault runs the daemon on stateDir, breaks the directory
// with breakDir while a service runs, opens another, checks the daemon's
// answers, then mends the directory and waits for the table to converge.
func testStateDirFault(t *testing.T, stateDir string, breakDir, mendDir func() error) {
	ctx, env := startWithAgent(t, labrun.Options{DaemonArgs: []string{"--state-dir", stateDir}}, 60*time.Second)
	svc := newServices(t, env.Lab.WSL)
	svc.open(20001)
	checkExact(ctx, t, env, exactOptions{dialAll: true})

	if err := breakDir(); err != nil {
		t.Fatal(err)
	}
	svc.open(20002)
	// The new forward fails with the reason; the old one stays.
	checkExact(ctx, t, env, exactOptions{dialAll: true, errors: map[sock]bool{{"tcp", 20002}: true}})
	fs, err := env.Select(ctx, labrun.Match{Protocol: tcp, Port: 20002})
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 1 || !strings.Contains(fs[0].GetReason(), "state directory") {
		t.Errorf("the failed forward's reason should name the state directory: %v", fs)
	}
	var problem *wslfwdv1.Problem
	err = env.Wait(ctx, "GetStatus to report the state directory", func(ctx context.Context) (bool, error) {
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

	if err := mendDir(); err != nil {
		t.Fatal(err)
	}
	// Nothing else changes: the daemon must notice and retry by itself,
	// within recoverWithin.
	mended := time.Now()
	rctx, cancel := context.WithTimeout(ctx, recoverWithin)
	defer cancel()
	checkExact(rctx, t, env, exactOptions{dialAll: true})
	t.Logf("converged %v after the state directory was mended", time.Since(mended).Round(time.Millisecond))
	if p, err := stateProblem(ctx, env); err != nil || p != nil {
		t.Errorf("GetStatus after the state directory recovered: problem %v, err %v", p, err)
	}
}

// stateProblem returns GetStatus's state-dir-unwritable problem, or nil.
// The daemon's probe writes and syncs a block, so a full file system is
// reported as such, not only as the backend failures it causes.
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

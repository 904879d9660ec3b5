//go:build linux

package ebpftrigger

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"
)

// errNoCgroup2 says that no cgroup v2 hierarchy is mounted, so the UDP
// hooks have nowhere to attach.
var errNoCgroup2 = errors.New("no cgroup2 file system mounted (see /proc/self/mountinfo)")

// findCgroup2 returns where the cgroup v2 hierarchy is mounted for this
// process: /sys/fs/cgroup on systemd distros, /sys/fs/cgroup/unified in
// WSL2's default hybrid layout.
func findCgroup2() (string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", err
	}
	defer f.Close()
	return cgroup2Mount(f)
}

// cgroup2Mount returns the mount point of the first cgroup2 file system in a
// mountinfo listing (proc(5)): "id parent maj:min root mountpoint options
// [optional...] - fstype source superoptions".
func cgroup2Mount(r io.Reader) (string, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 7 {
			continue
		}
		sep := -1
		for i := 6; i < len(fields); i++ {
			if fields[i] == "-" {
				sep = i
				break
			}
		}
		if sep < 0 || sep+1 >= len(fields) || fields[sep+1] != "cgroup2" {
			continue
		}
		dir := unescapeMount(fields[4])
		if !strings.HasPrefix(dir, "/") {
			continue
		}
		return dir, nil
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("read mountinfo: %w", err)
	}
	return "", errNoCgroup2
}

// unescapeMount undoes the kernel's octal escapes (\040 for a space, \011,
// \012, \134) in a mountinfo path.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && s[i+1] >= '0' && s[i+1] <= '3' && isOctal(s[i+2]) && isOctal(s[i+3]) {
			v := (s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0')
			b.WriteByte(v)
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }

// cgroup2Root returns a path to the root of the cgroup2 hierarchy this
// process sees, for the UDP hooks to attach to, and a release to call once
// they are attached. It is where cgroup2 is mounted, or, when nothing in
// view mounts it (under `ip netns exec`, which remounts /sys, or in a
// container), a private mount of it: see privateCgroup2.
func cgroup2Root() (string, func(), error) {
	dir, err := findCgroup2()
	if err == nil {
		return dir, func() {}, nil
	}
	if !errors.Is(err, errNoCgroup2) {
		return "", nil, fmt.Errorf("find cgroup2 mount for the UDP hooks: %w", err)
	}
	f, perr := privateCgroup2()
	if perr != nil {
		return "", nil, fmt.Errorf("find cgroup2 mount for the UDP hooks: %w; mount one privately: %w", err, perr)
	}
	return fmt.Sprintf("/proc/self/fd/%d", f.Fd()), func() { f.Close() }, nil
}

// privateCgroup2 mounts cgroup2 where no other process sees it and opens
// its root. A thread of its own enters a new mount namespace, mounts the
// hierarchy (of this process's cgroup namespace, so a container's agent
// watches the container's processes) on an empty directory, opens it and
// ends; the open directory keeps the mount alive until the caller closes
// it, and nothing changes in any mount table another process sees. The
// directory is made and removed in the ordinary file system.
func privateCgroup2() (*os.File, error) {
	mnt, err := os.MkdirTemp("", "wslfwd-cgroup2-")
	if err != nil {
		return nil, err
	}
	defer os.Remove(mnt)
	type result struct {
		f   *os.File
		err error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		f, err := mountOnThread(mnt)
		done <- result{f, err}
	}()
	r := <-done
	return r.f, r.err
}

// mountOnThread moves the calling (locked, then discarded) thread into a
// new mount namespace whose mounts propagate nowhere, mounts cgroup2 on
// dir there and opens it.
func mountOnThread(dir string) (*os.File, error) {
	if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
		return nil, fmt.Errorf("new mount namespace: %w", err)
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return nil, fmt.Errorf("make mounts private: %w", err)
	}
	if err := unix.Mount("cgroup2", dir, "cgroup2", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return nil, fmt.Errorf("mount cgroup2: %w", err)
	}
	f, err := os.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("open cgroup2 root: %w", err)
	}
	return f, nil
}

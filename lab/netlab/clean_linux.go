//go:build linux

package netlab

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// List returns the names of the namespaces whose name starts with prefix
// (Prefix for every lab's, a Lab's ID for one lab's): those of running labs
// and those a crashed run left behind.
func List(prefix string) ([]string, error) {
	if !strings.HasPrefix(prefix, Prefix) {
		return nil, fmt.Errorf("list namespaces: prefix %q does not start with %q", prefix, Prefix)
	}
	ents, err := os.ReadDir(runDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list namespaces: %w", err)
	}
	var names []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), prefix) {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names, nil
}

// Clean removes namespaces left behind by labs that did not close (a killed
// run): it kills the processes inside each and deletes the name. Only names
// starting with prefix, itself starting with Prefix, are touched. A
// namespace that a live lab still holds (a process outside the lab's
// namespaces has it open, as every Lab does) is left alone and returned in
// inUse, unless force is set.
func Clean(prefix string, force bool) (removed, inUse []string, err error) {
	names, err := List(prefix)
	if err != nil {
		return nil, nil, err
	}
	var holders map[uint64][]int
	if !force {
		holders = nsHolders(names)
	}
	var errs []error
	for _, name := range names {
		if !force {
			var st syscall.Stat_t
			if err := syscall.Stat(filepath.Join(runDir, name), &st); err == nil && len(holders[st.Ino]) > 0 {
				inUse = append(inUse, name)
				continue
			}
		}
		if err := killIn(name, 5*time.Second); err != nil {
			errs = append(errs, err)
			continue
		}
		if err := (&NS{Name: name}).remove(); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, name)
	}
	return removed, inUse, errors.Join(errs...)
}

// nsHolders maps the inode of each named namespace (all namespace files
// share one device, that of the process's own ns/net) to the processes that
// hold it open through a file descriptor and do not themselves run in one
// of them: a live lab's own process, not the daemons inside its namespaces.
func nsHolders(names []string) map[uint64][]int {
	inodes := map[uint64]bool{}
	for _, name := range names {
		var st syscall.Stat_t
		if syscall.Stat(filepath.Join(runDir, name), &st) == nil {
			inodes[st.Ino] = true
		}
	}
	holders := map[uint64][]int{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		var own syscall.Stat_t
		if syscall.Stat(filepath.Join("/proc", e.Name(), "ns", "net"), &own) != nil || inodes[own.Ino] {
			continue
		}
		fds, _ := os.ReadDir(filepath.Join("/proc", e.Name(), "fd"))
		for _, fd := range fds {
			// A namespace opened by name reads back as its path, one
			// opened through /proc as net:[inode]; stat sees both.
			var st syscall.Stat_t
			if syscall.Stat(filepath.Join("/proc", e.Name(), "fd", fd.Name()), &st) == nil &&
				st.Dev == own.Dev && inodes[st.Ino] {
				holders[st.Ino] = append(holders[st.Ino], pid)
			}
		}
	}
	return holders
}

// killIn SIGKILLs every process whose network namespace is the named one
// and waits, up to timeout, for them to be gone.
func killIn(name string, timeout time.Duration) error {
	var want syscall.Stat_t
	if err := syscall.Stat(filepath.Join(runDir, name), &want); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("stat namespace %s: %w", name, err)
	}
	deadline := time.Now().Add(timeout)
	for {
		pids := pidsIn(want.Dev, want.Ino)
		if len(pids) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("namespace %s: processes %v still alive after SIGKILL", name, pids)
		}
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(20 * time.Millisecond) // poll interval while they die
	}
}

// pidsIn lists the processes whose network namespace file is (dev, ino).
func pidsIn(dev, ino uint64) []int {
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		var st syscall.Stat_t
		if syscall.Stat(filepath.Join("/proc", e.Name(), "ns", "net"), &st) != nil {
			continue
		}
		if st.Dev == dev && st.Ino == ino {
			pids = append(pids, pid)
		}
	}
	return pids
}

package install

import (
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// fakeSystem stands in for systemd and the processes, and records what
// install asked of it.
type fakeSystem struct {
	root            string // where enable makes its link
	systemd         bool
	enabled, active bool
	agents          []int
	nextPid         int
	calls           []string // what changed the system, in order
}

func (f *fakeSystem) Systemd() bool { return f.systemd }

func (f *fakeSystem) Systemctl(args ...string) error {
	if !f.systemd {
		return fmt.Errorf("systemctl %v: systemd is not running", args)
	}
	state := map[string]*bool{"is-enabled": &f.enabled, "is-active": &f.active}
	if p, ok := state[args[0]]; ok {
		if !*p {
			return fmt.Errorf("systemctl %s: no", args[0])
		}
		return nil
	}
	f.calls = append(f.calls, "systemctl "+strings.Join(args, " "))
	switch strings.Join(args[:len(args)-1], " ") {
	case "enable":
		f.enabled = true
		return os.Symlink(unitPath, f.wantsLink())
	case "start", "restart":
		f.active = true
	case "disable --now":
		f.enabled, f.active = false, false
		return os.Remove(f.wantsLink())
	}
	return nil
}

// wantsLink is where systemctl enable links the unit.
func (f *fakeSystem) wantsLink() string {
	return filepath.Join(f.root, "etc/systemd/system/multi-user.target.wants", unitName)
}

func (f *fakeSystem) Start(cmd string) error {
	f.calls = append(f.calls, "start "+cmd)
	f.nextPid++
	f.agents = append(f.agents, 1000+f.nextPid)
	return nil
}

func (f *fakeSystem) Agents(exe string) ([]int, error) {
	if exe != binPath {
		return nil, fmt.Errorf("agents of %s, want %s", exe, binPath)
	}
	return slices.Clone(f.agents), nil
}

func (f *fakeSystem) Stop(pid int) error {
	f.calls = append(f.calls, fmt.Sprintf("stop %d", pid))
	f.agents = slices.DeleteFunc(f.agents, func(p int) bool { return p == pid })
	return nil
}

// takeCalls returns the calls since the last take.
func (f *fakeSystem) takeCalls() []string {
	c := f.calls
	f.calls = nil
	return c
}

// snapshot is a tree: each path's mode and content (a link's target).
type snapshot map[string]string

func snap(t *testing.T, root string) snapshot {
	t.Helper()
	s := snapshot{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		v := fi.Mode().String()
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			dest, _ := os.Readlink(p)
			v += " -> " + dest
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			v += " " + string(b)
		}
		s[rel] = v
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// diff names the paths whose mode or content differ.
func (s snapshot) diff(o snapshot) []string {
	var d []string
	for _, p := range slices.Sorted(maps.Keys(s)) {
		if o[p] != s[p] {
			d = append(d, fmt.Sprintf("%s: %.80q → %.80q", p, s[p], o[p]))
		}
	}
	for p := range o {
		if _, ok := s[p]; !ok {
			d = append(d, fmt.Sprintf("%s: new, %.80q", p, o[p]))
		}
	}
	return d
}

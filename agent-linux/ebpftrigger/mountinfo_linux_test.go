//go:build linux

package ebpftrigger

import (
	"errors"
	"strings"
	"testing"
)

// wslHybrid is the shape of /proc/self/mountinfo in a WSL2 distro without
// systemd: cgroup v1 controllers plus v2 at /sys/fs/cgroup/unified.
const wslHybrid = `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`

func TestCgroup2Mount(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"wsl hybrid", wslHybrid, "/sys/fs/cgroup/unified"},
		{"systemd unified", "35 24 0:30 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n", "/sys/fs/cgroup"},
		{"optional fields", "35 24 0:30 / /cg rw shared:9 master:2 - cgroup2 none rw\n", "/cg"},
		{"escaped space", `35 24 0:30 / /mnt/my\040cgroup rw - cgroup2 cgroup2 rw` + "\n", "/mnt/my cgroup"},
		{"first of two", "1 0 0:1 / /a rw - cgroup2 x rw\n2 0 0:2 / /b rw - cgroup2 x rw\n", "/a"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := cgroup2Mount(strings.NewReader(tc.in))
			if err != nil || got != tc.want {
				t.Fatalf("cgroup2Mount = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestCgroup2MountMissing(t *testing.T) {
	for _, in := range []string{
		"",
		"32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n",
		"41 31 0:38 / /x rw cgroup2 cgroup2 rw\n",         // no separator
		"41 31 0:38 / relative rw - cgroup2 cgroup2 rw\n", // not absolute
		"short line - cgroup2\n",
	} {
		if got, err := cgroup2Mount(strings.NewReader(in)); !errors.Is(err, errNoCgroup2) {
			t.Errorf("cgroup2Mount(%q) = %q, %v; want errNoCgroup2", in, got, err)
		}
	}
}

func TestFindCgroup2Here(t *testing.T) {
	dir, err := findCgroup2()
	if errors.Is(err, errNoCgroup2) {
		t.Skip("this machine mounts no cgroup2")
	}
	if err != nil || !strings.HasPrefix(dir, "/") {
		t.Fatalf("findCgroup2 = %q, %v", dir, err)
	}
}

func FuzzCgroup2Mount(f *testing.F) {
	f.Add(wslHybrid)
	f.Add(`35 24 0:30 / /mnt/my\040cgroup\134 rw - cgroup2 cgroup2 rw`)
	f.Add("1 0 0:1 / /a rw - cgroup2")
	f.Add(`1 0 0:1 / /\777\0 rw - cgroup2 x rw`)
	f.Fuzz(func(t *testing.T, in string) {
		dir, err := cgroup2Mount(strings.NewReader(in))
		if err != nil {
			if dir != "" {
				t.Fatalf("error %v with a path %q", err, dir)
			}
			return
		}
		if !strings.HasPrefix(dir, "/") {
			t.Fatalf("relative mount point %q", dir)
		}
		if !strings.Contains(in, "cgroup2") {
			t.Fatalf("found %q in input without cgroup2", dir)
		}
	})
}

//go:build linux

package ebpftrigger

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
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

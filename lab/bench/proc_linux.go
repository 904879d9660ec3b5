//go:build linux

package bench

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// userHZ is the unit of utime and stime in /proc/<pid>/stat (USER_HZ,
// 100 on every Linux architecture Go supports).
const userHZ = 100

// cpuTime returns the CPU time (user + system, all threads) a process has
// used, from /proc/<pid>/stat. Its resolution is one tick, 10 ms.
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("cpu time of pid %d: %w", pid, err)
	}
	return parseStatCPU(b)
}

// parseStatCPU reads utime and stime (fields 14 and 15) from a
// /proc/<pid>/stat line. The command name (field 2) may hold spaces and
// parentheses, so fields are counted after its last ')'.
func parseStatCPU(b []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("parse /proc stat: no ')' after the command name")
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state), so field n is f[n-3].
	if len(f) < 13 {
		return 0, fmt.Errorf("parse /proc stat: %d fields after the command name, want at least 13", len(f))
	}
	var ticks int64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("parse /proc stat: cpu ticks %q", s)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / userHZ, nil
}

// cpuPercent measures pid's CPU use over window as a percentage of one
// core, calling during (which may block for the window) between the two
// readings; with a nil during it sleeps.
func cpuPercent(pid int, window time.Duration, during func() error) (float64, time.Duration, error) {
	before, err := cpuTime(pid)
	if err != nil {
		return 0, 0, err
	}
	start := time.Now()
	if during != nil {
		if err := during(); err != nil {
			return 0, 0, err
		}
	} else {
		time.Sleep(window)
	}
	after, err := cpuTime(pid)
	if err != nil {
		return 0, 0, err
	}
	wall := time.Since(start)
	return 100 * float64(after-before) / float64(wall), wall, nil
}

// rssMiB returns a process's resident set (VmRSS) in MiB.
func rssMiB(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("memory of pid %d: %w", pid, err)
	}
	kb, err := parseVmRSS(b)
	if err != nil {
		return 0, fmt.Errorf("memory of pid %d: %w", pid, err)
	}
	return float64(kb) / 1024, nil
}

// parseVmRSS returns the VmRSS line of /proc/<pid>/status in KiB.
func parseVmRSS(b []byte) (int64, error) {
	for _, line := range strings.Split(string(b), "\n") {
		rest, ok := strings.CutPrefix(line, "VmRSS:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("parse VmRSS %q", line)
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("parse VmRSS %q", line)
		}
		return n, nil
	}
	return 0, fmt.Errorf("no VmRSS line (a kernel thread or a zombie)")
}

//go:build linux

package bench

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// cpuTime returns the CPU time a process has used, summed over its threads
// from /proc/<pid>/task/*/schedstat, whose first field is the time on CPU
// in nanoseconds. /proc/<pid>/stat counts in 10 ms ticks, which over a
// 20 s window resolves only 0.05 % of a core; an idle agent's goal is
// 0.05 %. A thread that exits within a window takes its time with it;
// the programs measured keep theirs.
func cpuTime(pid int) (time.Duration, error) {
	dir := fmt.Sprintf("/proc/%d/task", pid)
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return 0, fmt.Errorf("cpu time of pid %d: %w", pid, err)
	}
	var sum time.Duration
	for _, t := range tasks {
		b, err := os.ReadFile(filepath.Join(dir, t.Name(), "schedstat"))
		if errors.Is(err, fs.ErrNotExist) {
			continue // the thread exited meanwhile
		}
		if err != nil {
			return 0, fmt.Errorf("cpu time of pid %d: %w", pid, err)
		}
		d, err := parseSchedstat(b)
		if err != nil {
			return 0, fmt.Errorf("cpu time of pid %d thread %s: %w", pid, t.Name(), err)
		}
		sum += d
	}
	return sum, nil
}

// parseSchedstat reads the time on CPU from a schedstat line:
// "<ns on cpu> <ns waiting> <timeslices>".
func parseSchedstat(b []byte) (time.Duration, error) {
	f := strings.Fields(string(b))
	if len(f) != 3 {
		return 0, fmt.Errorf("parse schedstat %q: want 3 fields", b)
	}
	ns, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil || ns < 0 {
		return 0, fmt.Errorf("parse schedstat %q: time on cpu", b)
	}
	return time.Duration(ns), nil
}

// cpuPercents measures the CPU use of each of pids while during runs, as
// percentages of one core, and returns them with the wall time.
func cpuPercents(pids []int, during func() error) ([]float64, time.Duration, error) {
	before := make([]time.Duration, len(pids))
	for i, pid := range pids {
		var err error
		if before[i], err = cpuTime(pid); err != nil {
			return nil, 0, err
		}
	}
	start := time.Now()
	if err := during(); err != nil {
		return nil, 0, err
	}
	wall := time.Since(start)
	pct := make([]float64, len(pids))
	for i, pid := range pids {
		after, err := cpuTime(pid)
		if err != nil {
			return nil, 0, err
		}
		pct[i] = 100 * float64(after-before[i]) / float64(wall)
	}
	return pct, wall, nil
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

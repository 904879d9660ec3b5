//go:build linux

package bench

import (
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestParseSchedstat(t *testing.T) {
	got, err := parseSchedstat([]byte("1234567 89 10\n"))
	if err != nil || got != 1234567*time.Nanosecond {
		t.Errorf("parseSchedstat = %v, %v; want 1.234567ms", got, err)
	}
	for _, bad := range []string{"", "1 2", "1 2 3 4", "x 2 3", "-5 2 3"} {
		if _, err := parseSchedstat([]byte(bad)); err == nil {
			t.Errorf("parseSchedstat(%q) succeeded", bad)
		}
	}
}

// cpuTime agrees with getrusage on the CPU time this process spends.
func TestCPUTimeOfSelf(t *testing.T) {
	rusage := func() time.Duration {
		var ru unix.Rusage
		if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
			t.Fatal(err)
		}
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	before, err := cpuTime(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	start := rusage()
	for rusage()-start < 50*time.Millisecond { // burn CPU, as much as the kernel counts
	}
	after, err := cpuTime(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if used := after - before; used < 45*time.Millisecond {
		t.Errorf("cpu time grew by %v while getrusage counted 50ms", used)
	}
}

func TestParseVmRSS(t *testing.T) {
	status := "Name:\tx\nVmPeak:\t  9000 kB\nVmRSS:\t    2048 kB\nThreads:\t4\n"
	kb, err := parseVmRSS([]byte(status))
	if err != nil || kb != 2048 {
		t.Errorf("parseVmRSS = %d, %v; want 2048", kb, err)
	}
	for _, bad := range []string{"Name:\tkthread\n", "VmRSS:\t12 MB\n", "VmRSS:\t-1 kB\n", "VmRSS:\n"} {
		if _, err := parseVmRSS([]byte(bad)); err == nil {
			t.Errorf("parseVmRSS(%q) succeeded", bad)
		}
	}
	mib, err := rssMiB(os.Getpid())
	if err != nil || mib <= 0 {
		t.Errorf("rssMiB(self) = %v, %v", mib, err)
	}
}

func TestParseCommand(t *testing.T) {
	name, args, err := parseCommand("churn 24000 2000 100 3000 500")
	if err != nil || name != "churn" || len(args) != 5 || args[4] != 500 {
		t.Errorf("parseCommand = %q %v %v", name, args, err)
	}
	for _, bad := range []string{"", "  ", "listen", "listen 1 2", "listen -1", "listen x", "dance 1", "open-many 1 99999999999"} {
		if _, _, err := parseCommand(bad); err == nil {
			t.Errorf("parseCommand(%q) succeeded", bad)
		}
	}
}

func FuzzParseSchedstat(f *testing.F) {
	f.Add([]byte("1234567 89 10\n"))
	f.Add([]byte("1 2"))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := parseSchedstat(b)
		if err == nil && d < 0 {
			t.Errorf("negative cpu time %v from %q", d, b)
		}
	})
}

func FuzzParseVmRSS(f *testing.F) {
	f.Add([]byte("Name:\tx\nVmRSS:\t    2048 kB\n"))
	f.Add([]byte("VmRSS: 1 kB"))
	f.Add([]byte("VmRSS:"))
	f.Fuzz(func(t *testing.T, b []byte) {
		kb, err := parseVmRSS(b)
		if err == nil && (kb < 0 || !strings.Contains(string(b), "VmRSS:")) {
			t.Errorf("parseVmRSS(%q) = %d without a valid VmRSS line", b, kb)
		}
	})
}

func FuzzParseCommand(f *testing.F) {
	for _, s := range []string{"listen 8080", "churn 24000 2000 100 3000 500", "close-many 1 2", "x", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		name, args, err := parseCommand(line)
		if err != nil {
			return
		}
		if arity[name] != len(args) {
			t.Errorf("parseCommand(%q) = %s with %d arguments, want %d", line, name, len(args), arity[name])
		}
		for _, a := range args {
			if a < 0 {
				t.Errorf("parseCommand(%q): negative argument %d", line, a)
			}
		}
	})
}

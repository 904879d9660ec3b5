//go:build linux

package bench

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestParseStatCPU(t *testing.T) {
	// The command name holds ") (" and spaces; utime 250, stime 50.
	line := "4242 (a) (b c) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 7 0 1000 0 0\n"
	got, err := parseStatCPU([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	if want := 3 * time.Second; got != want {
		t.Errorf("cpu = %v, want %v", got, want)
	}
	for _, bad := range []string{"", "1 (x S 1", "1 (x) S 1 2 3", "1 (x) S 1 1 1 0 -1 0 0 0 0 0 -5 1"} {
		if _, err := parseStatCPU([]byte(bad)); err == nil {
			t.Errorf("parseStatCPU(%q) succeeded", bad)
		}
	}
}

func TestCPUTimeOfSelf(t *testing.T) {
	end := time.Now().Add(50 * time.Millisecond)
	for time.Now().Before(end) { // burn some CPU so there is something to read
	}
	got, err := cpuTime(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if got < 10*time.Millisecond {
		t.Errorf("cpu time of a process that just spun 50 ms = %v", got)
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

func FuzzParseStatCPU(f *testing.F) {
	f.Add([]byte("4242 (a) (b c) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 7 0 1000 0 0\n"))
	f.Add([]byte("1 (x) S"))
	f.Add([]byte(")"))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := parseStatCPU(b)
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

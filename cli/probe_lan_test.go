package main

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// probe --from-lan runs on another PC: no daemon and no token, one path
// from this machine to the host's address and port.
func TestProbeFromLAN(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	// plainLinux has no token anywhere: none is looked for.
	r := runCLI(t, t.Context(), plainLinux(), "probe", "--from-lan", "127.0.0.1", "--port", port)
	if r.code != 0 {
		t.Fatalf("exit %d, stderr %s", r.code, r.stderr)
	}
	mustContain(t, "probe table", r.stdout, "lan-to-host", "this machine", "127.0.0.1:"+port, "PASS", "The path passed.")
	if strings.Contains(r.stdout, "Note:") {
		t.Errorf("a probe from the LAN carries the host-only note:\n%s", r.stdout)
	}

	l.Close()
	r = runCLI(t, t.Context(), plainLinux(), "probe", "--from-lan", "127.0.0.1", "--port", port)
	if r.code != exitFailure {
		t.Errorf("closed port: exit %d, want %d", r.code, exitFailure)
	}
	mustContain(t, "probe table", r.stdout, "FAIL", "nothing listens on the port")

	for _, args := range [][]string{
		{"probe", "--from-lan", "127.0.0.1"},
		{"probe", "--from-lan", "127.0.0.1", "--port", "1", "--distro", "Ubuntu"},
	} {
		if r := runCLI(t, t.Context(), plainLinux(), args...); r.code != exitUsage {
			t.Errorf("%q: exit %d, want %d", args, r.code, exitUsage)
		}
	}
}

// No answer at all is what a firewall that drops the packets looks like.
func TestLANDialErrorWords(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Millisecond)
	defer cancel()
	<-ctx.Done()
	got := lanDialError(ctx.Err(), 5*time.Second)
	if !strings.Contains(got, "no answer within 5s: a firewall drops it") {
		t.Errorf("lanDialError(deadline) = %q", got)
	}
}

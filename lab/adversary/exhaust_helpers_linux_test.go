//go:build linux

package adversary

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/encoding/protojson"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"

	"github.com/wslfwd/wslfwd/lab/labrun"
	"github.com/wslfwd/wslfwd/lab/labtest"
	"github.com/wslfwd/wslfwd/lab/netlab"
)

// The bounds the daemon keeps under attack (SECURITY.md, "Bounded resources").
const (
	maxRSS        = 100 << 20 // bytes, peak resident set (VmHWM)
	maxStatusTime = time.Second
	daemonNoFile  = 4096 // the daemon's descriptor limit in these tests
	// floodTime bounds the opening of one flood's connections.
	floodTime = 30 * time.Second
	// perChild is how many connections one flood process holds: the
	// machine's descriptor limit (20,000 here) is per process, and an
	// attacker is not bound to one.
	perChild = 8000
)

// floodEnv, set in the environment of this test binary, makes it a flood
// process (see floodChild) instead of running the tests.
const floodEnv = "WSLFWD_ADVERSARY_FLOOD"

// heavy serialises the floods: on a small machine, one test's 20,000
// connections would otherwise slow another test's daemon and blur what it
// measures.
var heavy sync.Mutex

// startDaemon starts a lab with the daemon and caps the daemon's
// descriptors at daemonNoFile, well below the attack's size, so the test
// shows the daemon's own limits hold, not the machine's.
func startDaemon(t *testing.T, timeout time.Duration) (context.Context, *labrun.Env) {
	t.Helper()
	ctx, env := labtest.Start(t, labrun.Options{}, timeout)
	lim := unix.Rlimit{Cur: daemonNoFile, Max: daemonNoFile}
	if err := unix.Prlimit(env.Daemon.Pid(), unix.RLIMIT_NOFILE, &lim, nil); err != nil {
		t.Fatalf("limit the daemon's descriptors: %v", err)
	}
	return ctx, env
}

// memory reads the daemon's resident set now and at its peak.
func memory(t *testing.T, pid int) (rss, peak int64) {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("daemon memory: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), ":")
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch {
		case err != nil:
		case k == "VmRSS":
			rss = kb << 10
		case k == "VmHWM":
			peak = kb << 10
		}
	}
	if rss == 0 || peak == 0 {
		t.Fatalf("no VmRSS/VmHWM in /proc/%d/status", pid)
	}
	return rss, peak
}

// listenOverflows reads TcpExt ListenOverflows in pid's network
// namespace: how many handshakes the kernel dropped because a listening
// socket's accept queue was full.
func listenOverflows(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/netstat", pid))
	if err != nil {
		t.Fatalf("daemon's TCP counters: %v", err)
	}
	lines := strings.Split(string(b), "\n")
	for i := 0; i+1 < len(lines); i += 2 {
		names, values := strings.Fields(lines[i]), strings.Fields(lines[i+1])
		if len(names) != len(values) || len(names) == 0 || names[0] != "TcpExt:" {
			continue
		}
		for j, n := range names {
			if n == "ListenOverflows" {
				v, err := strconv.ParseInt(values[j], 10, 64)
				if err != nil {
					t.Fatalf("ListenOverflows %q: %v", values[j], err)
				}
				return v
			}
		}
	}
	t.Fatalf("no TcpExt ListenOverflows in /proc/%d/net/netstat", pid)
	return 0
}

func descriptors(t *testing.T, pid int) int {
	t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatalf("daemon descriptors: %v", err)
	}
	return len(ents)
}

// statusTime runs `wslfwd status` (a new process, a new connection with
// the admin token) and returns how long it took.
func statusTime(t *testing.T, ctx context.Context, env *labrun.Env) time.Duration {
	t.Helper()
	start := time.Now()
	out, err := env.CLI(ctx, "status")
	took := time.Since(start)
	if err != nil {
		t.Fatalf("wslfwd status under attack, after %v: %v", took, err)
	}
	if !strings.Contains(out, "relay") {
		t.Fatalf("wslfwd status printed no backend:\n%s", out)
	}
	return took
}

// checkBounded asserts the daemon answers `wslfwd status` within
// maxStatusTime and has stayed within maxRSS, and logs the figures. It
// returns the daemon's figures, where an attack past the connection caps
// must show.
func checkBounded(t *testing.T, ctx context.Context, env *labrun.Env, attack string) *wslfwdv1.DaemonMetrics {
	t.Helper()
	took := statusTime(t, ctx, env)
	pid := env.Daemon.Pid()
	rss, peak := memory(t, pid)
	fds := descriptors(t, pid)
	t.Logf("%s: wslfwd status took %v; daemon RSS %.1f MiB, peak %.1f MiB; %d descriptors",
		attack, took.Round(time.Millisecond), mib(rss), mib(peak), fds)
	if took > maxStatusTime {
		t.Errorf("%s: wslfwd status took %v, want ≤ %v", attack, took, maxStatusTime)
	}
	if peak > maxRSS {
		t.Errorf("%s: daemon peak RSS %.1f MiB, want ≤ %.0f MiB", attack, mib(peak), mib(maxRSS))
	}
	return figures(t, ctx, env)
}

// figures reads the daemon's figures with `wslfwd status -o json`.
func figures(t *testing.T, ctx context.Context, env *labrun.Env) *wslfwdv1.DaemonMetrics {
	t.Helper()
	out, err := env.CLI(ctx, "status", "-o", "json")
	if err != nil {
		t.Fatalf("wslfwd status -o json: %v", err)
	}
	var st wslfwdv1.GetStatusResponse
	if err := protojson.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("wslfwd status -o json: %v\n%s", err, out)
	}
	return st.GetMetrics()
}

// expectClosedPastLimits asserts an attack that went past the connection
// caps shows in the daemon's figures, as an operator would look for it.
func expectClosedPastLimits(t *testing.T, m *wslfwdv1.DaemonMetrics, attack string) {
	t.Helper()
	t.Logf("%s: the daemon's figures say %d connections closed past the limits, %d at the pending timeout, calls refused %v",
		attack, m.GetConnectionsClosedPastLimits(), m.GetConnectionsClosedPendingTimeout(), m.GetCallRefusals())
	if m.GetConnectionsClosedPastLimits() == 0 {
		t.Errorf("%s went past the connection caps, and the daemon's figures count no connection closed past the limits", attack)
	}
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

// loopbackSource is the i-th of many loopback addresses an attacker on
// the host can send from (127.0.0.0/8 is all local), skipping 127.0.0.1,
// which the CLI uses.
func loopbackSource(i int) netip.Addr {
	n := i%250 + 2
	return netip.AddrFrom4([4]byte{127, 0, byte(n / 256), byte(n % 256)})
}

// http2Preface is what a client sends first: the connection preface and
// an empty SETTINGS frame.
var http2Preface = []byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")

// floodSpec is what one flood process does.
type floodSpec struct {
	Dst      netip.AddrPort
	N        int
	First    int  // index of the first connection, for loopbackSource
	Loopback bool // send from loopbackSource(i), not the default address
	Preface  bool // write the HTTP/2 preface on each connection
	// Hello, when set, is written on each connection instead: a TLS
	// ClientHello, which makes the daemon do its part of a handshake.
	Hello []byte
	// Reconnect keeps replacing the connections, oldest first, as fast
	// as it can once all N are open, until the flood stops.
	Reconnect bool
}

// flood opens spec.N connections to spec.Dst from inside ns, spread over
// flood processes of perChild connections each, and returns how many
// opened. They stay open (as far as this side is concerned) until stop,
// or the end of the test; stop returns how many connections were made
// again (with Reconnect).
func flood(t *testing.T, ns *netlab.NS, spec floodSpec) (opened int, stop func() int) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	var stops []func() int
	for first := 0; first < spec.N; first += perChild {
		s := spec
		s.First, s.N = first, min(perChild, spec.N-first)
		n, stop := floodProcess(t, ns, self, s)
		opened += n
		stops = append(stops, stop)
	}
	return opened, func() int {
		again := 0
		for _, stop := range stops {
			again += stop()
		}
		return again
	}
}

// floodProcess starts one flood process and waits for its count. It holds
// its connections until stop closes its stdin, or the test ends.
func floodProcess(t *testing.T, ns *netlab.NS, self string, s floodSpec) (int, func() int) {
	t.Helper()
	spec, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	cmd := ns.Command(context.Background(), self)
	cmd.Env = append(os.Environ(), floodEnv+"="+string(spec))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start a flood process: %v", err)
	}
	var once sync.Once
	again := 0
	stop := func() int {
		once.Do(func() {
			stdin.Close()
			fmt.Fscan(stdout, &again)
			cmd.Wait()
		})
		return again
	}
	t.Cleanup(func() { stop() })
	var opened int
	if _, err := fmt.Fscan(stdout, &opened); err != nil {
		t.Fatalf("flood process: %v", err)
	}
	return opened, stop
}

// floodChild is a flood process: it opens the connections spec asks for,
// prints how many opened, and holds them (or with Reconnect, replaces
// them) until its stdin closes; then it prints how many it made again.
// Connections the daemon closes count as opened if they connected:
// closing them is the daemon's defence.
func floodChild(spec string) int {
	var s floodSpec
	if err := json.Unmarshal([]byte(spec), &s); err != nil {
		fmt.Fprintln(os.Stderr, "flood:", err)
		return 2
	}
	var conns []net.Conn
	deadline := time.Now().Add(floodTime)
	for i := s.First; i < s.First+s.N && time.Now().Before(deadline); i++ {
		if c := s.dial(i, deadline); c != nil {
			conns = append(conns, c)
		}
	}
	fmt.Println(len(conns))
	stopped := make(chan struct{})
	go func() {
		io.Copy(io.Discard, os.Stdin)
		close(stopped)
	}()
	again := 0
	for i := 0; s.Reconnect && len(conns) > 0; i++ {
		select {
		case <-stopped:
			fmt.Println(again)
			return 0
		default:
		}
		k := i % len(conns)
		conns[k].Close()
		if c := s.dial(s.First+k, time.Now().Add(time.Second)); c != nil {
			conns[k] = c
			again++
		}
	}
	<-stopped
	fmt.Println(again)
	return 0
}

// dial makes the i-th connection of the flood, nil if it fails.
func (s floodSpec) dial(i int, deadline time.Time) net.Conn {
	d := net.Dialer{Deadline: deadline}
	if s.Loopback {
		d.LocalAddr = net.TCPAddrFromAddrPort(netip.AddrPortFrom(loopbackSource(i), 0))
	}
	c, err := d.Dial("tcp", s.Dst.String())
	if err != nil {
		return nil
	}
	switch {
	case len(s.Hello) > 0:
		c.Write(s.Hello)
	case s.Preface:
		c.Write(http2Preface)
	}
	return c
}

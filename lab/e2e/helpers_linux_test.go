//go:build linux

package e2e

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/lab/labrun"
	"github.com/wslfwd/wslfwd/lab/labtest"
	"github.com/wslfwd/wslfwd/lab/netlab"
)

const (
	tcp = wslfwdv1.Protocol_PROTOCOL_TCP
	udp = wslfwdv1.Protocol_PROTOCOL_UDP

	active  = wslfwdv1.ForwardState_FORWARD_STATE_ACTIVE
	blocked = wslfwdv1.ForwardState_FORWARD_STATE_BLOCKED
	direct  = wslfwdv1.ForwardState_FORWARD_STATE_DIRECT
)

// testTimeout bounds each test; every wait inside is a poll under it.
const testTimeout = 60 * time.Second

// start is labtest.Start bounded by testTimeout.
func start(t *testing.T, o labrun.Options) (context.Context, *labrun.Env) {
	t.Helper()
	return labtest.Start(t, o, testTimeout)
}

// startWithAgent is start plus one NAT agent for distro Ubuntu in wsl.
func startWithAgent(t *testing.T, o labrun.Options) (context.Context, *labrun.Env) {
	t.Helper()
	return labtest.StartWithAgent(t, o, testTimeout, "Ubuntu")
}

// tcpEcho opens a TCP echo service in ns, closed when the test ends.
func tcpEcho(t *testing.T, ns *netlab.NS, addr string) net.Listener {
	t.Helper()
	ln, err := ns.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go netlab.Echo(ln)
	return ln
}

// udpEcho opens an unconnected UDP echo service in ns.
func udpEcho(t *testing.T, ns *netlab.NS, addr string) net.PacketConn {
	t.Helper()
	pc, err := ns.ListenPacket("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go netlab.EchoPackets(pc)
	return pc
}

// describe prints a forward for error messages.
func describe(f *wslfwdv1.Forward) string {
	return fmt.Sprintf("%s %s:%d → %s:%d [%s] %s (distro %s, %s pid %d, backend %q)",
		strings.TrimPrefix(f.GetProtocol().String(), "PROTOCOL_"),
		f.GetListenAddress(), f.GetListenPort(), f.GetConnectAddress(), f.GetConnectPort(),
		strings.TrimPrefix(f.GetState().String(), "FORWARD_STATE_"), f.GetReason(),
		f.GetDistro(), f.GetProcessName(), f.GetPid(), f.GetBackend())
}

// listeners counts the TCP sockets in LISTEN on port in ns, IPv4 and IPv6,
// from the kernel's own tables.
func listeners(t *testing.T, ns *netlab.NS, port uint16) int {
	t.Helper()
	n := 0
	for _, file := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		out, err := ns.Command(context.Background(), "cat", file).Output()
		if err != nil {
			t.Fatalf("read %s in %s: %v", file, ns.Name, err)
		}
		for _, line := range strings.Split(string(out), "\n")[1:] {
			f := strings.Fields(line)
			// f[1] is local "ADDR:PORT" in hex, f[3] the state; 0A is LISTEN.
			if len(f) > 3 && f[3] == "0A" && strings.HasSuffix(f[1], fmt.Sprintf(":%04X", port)) {
				n++
			}
		}
	}
	return n
}

// probeFromLAN echoes through the host's port from lan, a new connection
// every 10 ms, until the returned function is called; that function
// reports how many probes ran, how many failed, and the first failure.
func probeFromLAN(ctx context.Context, env *labrun.Env, port uint16) func() (probes, failed int, first error) {
	var (
		n, failed int
		first     error
	)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			n++
			if err := env.EchoFromLAN(ctx, "tcp", port); err != nil {
				failed++
				if first == nil {
					first = err
				}
			}
		}
	}()
	return func() (int, int, error) {
		close(stop)
		<-done
		return n, failed, first
	}
}

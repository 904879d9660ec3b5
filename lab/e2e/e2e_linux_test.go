//go:build linux

package e2e

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/internal/endpoint"
	"github.com/wslfwd/wslfwd/internal/token"
	"github.com/wslfwd/wslfwd/internal/tokentls"
	"github.com/wslfwd/wslfwd/lab/labrun"
	"github.com/wslfwd/wslfwd/lab/netlab"
)

var wslAddr = netlab.WSLAddr.Addr()

// A TCP and a UDP service in wsl become reachable from lan through the
// host, with the forward naming the distro and the owning process; closing
// them removes the forwards and the host stops answering.
func TestServicesForwardedAndRemoved(t *testing.T) {
	ctx, env := startWithAgent(t, labrun.Options{})
	ln := tcpEcho(t, env.Lab.WSL, "0.0.0.0:9001")
	pc := udpEcho(t, env.Lab.WSL, "0.0.0.0:9002")

	for _, c := range []struct {
		proto   wslfwdv1.Protocol
		network string
		port    uint16
	}{{tcp, "tcp", 9001}, {udp, "udp", 9002}} {
		f, err := env.WaitForward(ctx, labrun.Match{Protocol: c.proto, Port: uint32(c.port), State: active})
		if err != nil {
			t.Fatal(err)
		}
		if f.GetConnectAddress() != wslAddr.String() || f.GetConnectPort() != uint32(c.port) ||
			f.GetDistro() != "Ubuntu" || f.GetPid() != uint32(os.Getpid()) || f.GetBackend() != "relay" {
			t.Errorf("forward %s: want → %s:%d, distro Ubuntu, pid %d (this test), backend relay",
				describe(f), wslAddr, c.port, os.Getpid())
		}
		if err := env.EchoFromLAN(ctx, c.network, c.port); err != nil {
			t.Errorf("%s %d from lan through an ACTIVE forward: %v", c.network, c.port, err)
		}
	}

	ln.Close()
	if err := env.WaitNoForward(ctx, labrun.Match{Protocol: tcp, Port: 9001}); err != nil {
		t.Fatal(err)
	}
	if err := env.RefusedFromLAN(ctx, 9001); err != nil {
		t.Error(err)
	}
	pc.Close()
	if err := env.WaitNoForward(ctx, labrun.Match{Protocol: udp, Port: 9002}); err != nil {
		t.Fatal(err)
	}
}

// A service bound to 127.0.0.1 in wsl cannot be reached at the distro's
// address, so it is listed as BLOCKED with the reason and not forwarded.
func TestLoopbackOnlyServiceNotForwarded(t *testing.T) {
	ctx, env := startWithAgent(t, labrun.Options{})
	tcpEcho(t, env.Lab.WSL, "127.0.0.1:9003")
	f, err := env.WaitForward(ctx, labrun.Match{Protocol: tcp, Port: 9003})
	if err != nil {
		t.Fatal(err)
	}
	if f.GetState() != blocked || !strings.Contains(f.GetReason(), "127.0.0.1") {
		t.Errorf("loopback-only listener: %s; want BLOCKED with a reason naming 127.0.0.1", describe(f))
	}
	fs, err := env.Forwards(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fs {
		if f.GetListenPort() == 9003 {
			t.Errorf("ListForwards without all lists the loopback-only listener: %s", describe(f))
		}
	}
	if err := env.RefusedFromLAN(ctx, 9003); err != nil {
		t.Error(err)
	}
}

// Two distros share the WSL2 VM's network namespace, so both agents see
// the same socket: the daemon makes one forward of it, not two.
func TestTwoAgentsOneForward(t *testing.T) {
	ctx, env := startWithAgent(t, labrun.Options{})
	if _, err := env.StartAgent(ctx, labrun.AgentOptions{Distro: "Debian"}); err != nil {
		t.Fatal(err)
	}
	tcpEcho(t, env.Lab.WSL, "0.0.0.0:9004")
	// Both agents have reported the socket before the count is checked.
	for _, d := range []string{"Ubuntu", "Debian"} {
		err := env.Wait(ctx, "agent "+d+" to report the listener", func(ctx context.Context) (bool, error) {
			a, err := env.Agent(ctx, d)
			return a != nil && a.GetListenerCount() >= 1, err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := env.WaitForward(ctx, labrun.Match{Protocol: tcp, Port: 9004, State: active}); err != nil {
		t.Fatal(err)
	}
	fs, err := env.Forwards(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	for _, f := range fs {
		if f.GetListenPort() == 9004 {
			n++
			t.Logf("forward: %s", describe(f))
		}
	}
	if n != 1 {
		t.Errorf("%d forwards for port 9004, want 1", n)
	}
	if err := env.EchoFromLAN(ctx, "tcp", 9004); err != nil {
		t.Error(err)
	}
}

// When the distro's address changes (a WSL restart hands out a new one),
// the forwards follow it to the new address.
func TestAddressChangeMovesForwards(t *testing.T) {
	ctx, env := startWithAgent(t, labrun.Options{})
	tcpEcho(t, env.Lab.WSL, "0.0.0.0:9005")
	if _, err := env.WaitForward(ctx, labrun.Match{Protocol: tcp, Port: 9005, State: active, Connect: wslAddr}); err != nil {
		t.Fatal(err)
	}
	moved := netip.PrefixFrom(netip.MustParseAddr("172.28.240.54"), netlab.WSLAddr.Bits())
	changed := time.Now()
	if err := env.Lab.SetWSLAddress(netlab.WSLAddr, moved); err != nil {
		t.Fatal(err)
	}
	f, err := env.WaitForward(ctx, labrun.Match{Protocol: tcp, Port: 9005, State: active, Connect: moved.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("the forward moved to %s %v after the address change", moved.Addr(), time.Since(changed).Round(time.Millisecond))
	if f.GetConnectPort() != 9005 {
		t.Errorf("after the address change: %s", describe(f))
	}
	if err := env.EchoFromLAN(ctx, "tcp", 9005); err != nil {
		t.Errorf("from lan after the address change: %v", err)
	}
}

// A crashed agent's forwards stay for the grace period, then go.
func TestKilledAgentForwardsExpireAfterGrace(t *testing.T) {
	ctx, env := startWithAgent(t, labrun.Options{})
	tcpEcho(t, env.Lab.WSL, "0.0.0.0:9006")
	m := labrun.Match{Protocol: tcp, Port: 9006}
	if _, err := env.WaitForward(ctx, labrun.Match{Protocol: tcp, Port: 9006, State: active}); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	if err := env.KillAgent("Ubuntu"); err != nil {
		t.Fatal(err)
	}
	if err := env.WaitNoForward(ctx, m); err != nil {
		t.Fatal(err)
	}
	// The grace period starts when the daemon notices the session is gone,
	// which is after the kill: the forward cannot be gone sooner.
	if took := time.Since(killed); took < env.Grace {
		t.Errorf("forward removed %v after the agent was killed, before the grace period (%v) ended", took, env.Grace)
	}
	if err := env.RefusedFromLAN(ctx, 9006); err != nil {
		t.Error(err)
	}
}

// An agent that restarts within the grace period finds its forwards still
// in place: they stay ACTIVE and reachable from lan the whole time.
func TestAgentRestartWithinGraceKeepsForwards(t *testing.T) {
	grace := 4 * time.Second
	ctx, env := startWithAgent(t, labrun.Options{Grace: grace})
	tcpEcho(t, env.Lab.WSL, "0.0.0.0:9007")
	m := labrun.Match{Protocol: tcp, Port: 9007, State: active}
	if _, err := env.WaitForward(ctx, m); err != nil {
		t.Fatal(err)
	}

	probe := probeFromLAN(ctx, env, 9007)
	killed := time.Now()
	if err := env.KillAgent("Ubuntu"); err != nil {
		t.Fatal(err)
	}
	if _, err := env.StartAgent(ctx, labrun.AgentOptions{Distro: "Ubuntu"}); err != nil {
		t.Fatal(err)
	}
	if since := time.Since(killed); since >= grace {
		t.Fatalf("the agent took %v to come back, longer than the grace period %v: nothing to test", since, grace)
	}
	// Watch until well past the moment the old session's grace would end.
	window := killed.Add(grace + time.Second)
	var violation string
	err := env.Wait(ctx, "the old session's grace period to pass", func(ctx context.Context) (bool, error) {
		fs, err := env.Select(ctx, m)
		if err != nil {
			return false, err
		}
		if len(fs) != 1 {
			violation = fmt.Sprintf("%v after the kill: %d ACTIVE forwards for port 9007, want 1",
				time.Since(killed).Round(time.Millisecond), len(fs))
			return true, nil
		}
		return time.Now().After(window), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if violation != "" {
		t.Error(violation)
	}
	n, failed, first := probe()
	if failed > 0 || n == 0 {
		t.Errorf("%d of %d probes from lan failed across the agent restart; first: %v", failed, n, first)
	}
	t.Logf("%d probes from lan across the restart, %d failed", n, failed)
}

// The daemon's gRPC port faces WSL and loopback only: from lan it is
// closed, on IPv4 and IPv6; from wsl it wants the right token.
func TestDaemonPortClosedToLAN(t *testing.T) {
	ctx, env := startWithAgent(t, labrun.Options{})
	port := uint16(endpoint.DefaultPort)
	for _, addr := range []netip.Addr{netlab.HostLANAddr.Addr(), netlab.HostLANAddr6.Addr()} {
		target := netip.AddrPortFrom(addr, port).String()
		c, err := env.Lab.LAN.Dial(ctx, "tcp", target)
		if err == nil {
			c.Close()
			t.Errorf("the daemon's port answers from lan at %s", target)
		}
	}
	// It is open where it should be: to the distro.
	c, err := env.Lab.WSL.Dial(ctx, "tcp", labrun.DaemonWSL.String())
	if err != nil {
		t.Fatalf("the daemon's port from wsl: %v", err)
	}
	c.Close()
	// From wsl, control calls need the admin token: none is refused, and
	// the agent token every distro holds may not steer or read forwards.
	agentTok, err := token.Load(env.AgentTokenFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		tok  string
		want codes.Code
	}{{"", codes.Unauthenticated}, {agentTok, codes.PermissionDenied}} {
		opts := []grpc.DialOption{
			grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
				return env.Lab.WSL.Dial(ctx, "tcp", addr)
			}),
		}
		if c.tok != "" {
			opts = append(opts, grpc.WithTransportCredentials(tokentls.ClientOf(c.tok)), grpc.WithPerRPCCredentials(tokentls.Bearer{}))
		}
		conn, err := grpc.NewClient("passthrough:///"+labrun.DaemonWSL.String(), opts...)
		if err != nil {
			t.Fatal(err)
		}
		_, err = wslfwdv1.NewControlServiceClient(conn).ListForwards(ctx, &wslfwdv1.ListForwardsRequest{})
		conn.Close()
		if status.Code(err) != c.want {
			t.Errorf("ListForwards from wsl (token given: %v): %v, want %s", c.tok != "", err, c.want)
		}
	}
	// And its own port is never forwarded, whatever listens on it in wsl.
	tcpEcho(t, env.Lab.WSL, netip.AddrPortFrom(netip.IPv4Unspecified(), port).String())
	f, err := env.WaitForward(ctx, labrun.Match{Protocol: tcp, Port: uint32(port)})
	if err != nil {
		t.Fatal(err)
	}
	if f.GetState() != blocked {
		t.Errorf("a wsl listener on the daemon's port: %s; want BLOCKED", describe(f))
	}
}

// In mirrored mode the distro shares the host's addresses: the agent runs
// beside the daemon, its listeners are DIRECT, and the relay opens nothing.
func TestMirroredModeIsDirect(t *testing.T) {
	ctx, env := start(t, labrun.Options{})
	if _, err := env.StartAgent(ctx, labrun.AgentOptions{Distro: "Mirrored", NS: env.Lab.WinHost, Mode: "mirrored"}); err != nil {
		t.Fatal(err)
	}
	tcpEcho(t, env.Lab.WinHost, "0.0.0.0:9008")
	f, err := env.WaitForward(ctx, labrun.Match{Protocol: tcp, Port: 9008})
	if err != nil {
		t.Fatal(err)
	}
	if f.GetState() != direct || f.GetBackend() != "" {
		t.Errorf("mirrored listener: %s; want DIRECT and no backend", describe(f))
	}
	// Only the service itself listens on 9008: no relay listener.
	if n := listeners(t, env.Lab.WinHost, 9008); n != 1 {
		t.Errorf("%d TCP listeners on port 9008 in winhost, want 1 (the service)", n)
	}
	if err := env.EchoFromLAN(ctx, "tcp", 9008); err != nil {
		t.Errorf("lan reaches a mirrored service directly: %v", err)
	}
}

// The CLI tells the same story as the daemon: run in winhost it lists the
// forward, and run inside wsl without --host it finds the daemon at the
// default gateway, as in a real NAT-mode distro.
func TestCLI(t *testing.T) {
	ctx, env := startWithAgent(t, labrun.Options{})
	tcpEcho(t, env.Lab.WSL, "0.0.0.0:9009")
	if _, err := env.WaitForward(ctx, labrun.Match{Protocol: tcp, Port: 9009, State: active}); err != nil {
		t.Fatal(err)
	}
	var fwd wslfwdv1.ListForwardsResponse
	if err := env.CLIJSON(ctx, &fwd, "forwards"); err != nil {
		t.Fatal(err)
	}
	if fs := fwd.GetForwards(); len(fs) != 1 || fs[0].GetListenPort() != 9009 || fs[0].GetState() != active ||
		fs[0].GetConnectAddress() != wslAddr.String() {
		t.Errorf("wslfwd forwards -o json: want one ACTIVE forward of port 9009 to %s, got %v", wslAddr, fwd.GetForwards())
	}

	out, err := env.CLIFromWSL(ctx, "Ubuntu", "agents", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var agents wslfwdv1.ListAgentsResponse
	if err := protojson.Unmarshal([]byte(out), &agents); err != nil {
		t.Fatalf("wslfwd agents -o json: %v\n%s", err, out)
	}
	if as := agents.GetAgents(); len(as) != 1 || as[0].GetDistro() != "Ubuntu" || !as[0].GetConnected() {
		t.Errorf("wslfwd agents -o json from wsl: want Ubuntu connected, got\n%s", out)
	}
}

// A restarted daemon (same state directory) takes its forwards back: the
// agent reconnects and the service is reachable from lan again.
func TestDaemonRestartRestoresForwards(t *testing.T) {
	ctx, env := startWithAgent(t, labrun.Options{})
	tcpEcho(t, env.Lab.WSL, "0.0.0.0:9010")
	m := labrun.Match{Protocol: tcp, Port: 9010, State: active}
	if _, err := env.WaitForward(ctx, m); err != nil {
		t.Fatal(err)
	}
	if err := env.StopDaemon(); err != nil {
		t.Fatal(err)
	}
	if err := env.RefusedFromLAN(ctx, 9010); err != nil {
		t.Errorf("with the daemon stopped (the relay lives in it): %v", err)
	}
	if err := env.StartDaemon(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := env.WaitForward(ctx, m); err != nil {
		t.Fatal(err)
	}
	if err := env.EchoFromLAN(ctx, "tcp", 9010); err != nil {
		t.Errorf("from lan after the daemon restarted: %v", err)
	}
}

// A short network hiccup in the VM (eth0 down and up; the kernel drops the
// default route with it) leaves the forward in place and working.
func TestLinkFlapKeepsForward(t *testing.T) {
	ctx, env := startWithAgent(t, labrun.Options{})
	tcpEcho(t, env.Lab.WSL, "0.0.0.0:9011")
	m := labrun.Match{Protocol: tcp, Port: 9011, State: active, Connect: wslAddr}
	if _, err := env.WaitForward(ctx, m); err != nil {
		t.Fatal(err)
	}
	if err := env.Lab.SetWSLLinkUp(false); err != nil {
		t.Fatal(err)
	}
	if err := env.EchoFromLAN(ctx, "tcp", 9011); err == nil {
		t.Error("reached the service through the host with wsl's eth0 down")
	}
	if err := env.Lab.SetWSLLinkUp(true); err != nil {
		t.Fatal(err)
	}
	if _, err := env.WaitForward(ctx, m); err != nil {
		t.Fatal(err)
	}
	err := env.Wait(ctx, "the service to answer from lan again", func(ctx context.Context) (bool, error) {
		err := env.EchoFromLAN(ctx, "tcp", 9011)
		return err == nil, err
	})
	if err != nil {
		t.Fatal(err)
	}
}

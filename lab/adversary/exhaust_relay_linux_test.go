//go:build linux

package adversary

import (
	"net/netip"
	"testing"
	"time"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/hostd-windows/backend/relay"
	"github.com/wslfwd/wslfwd/lab/labrun"
	"github.com/wslfwd/wslfwd/lab/netlab"
)

// 5,000 connections from the LAN to one forward, held open and idle: the
// relay carries at most its cap for one forward and resets the rest, so
// the daemon's descriptors stay bounded (without the cap it ran out of
// them), its admin is answered, and another forward still carries a new
// client.
func TestIdleConnectionsThroughAForward(t *testing.T) {
	ctx, env := startDaemon(t, 2*time.Minute)
	if _, err := env.StartAgent(ctx, labrun.AgentOptions{Distro: "Ubuntu"}); err != nil {
		t.Fatal(err)
	}
	flooded, other := uint16(18081), uint16(18082)
	for _, port := range []uint16{flooded, other} {
		ln, err := env.Lab.WSL.Listen("tcp", netip.AddrPortFrom(netip.IPv4Unspecified(), port).String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		go netlab.Echo(ln)
		m := labrun.Match{Protocol: wslfwdv1.Protocol_PROTOCOL_TCP, Port: uint32(port), State: wslfwdv1.ForwardState_FORWARD_STATE_ACTIVE}
		if _, err := env.WaitForward(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	heavy.Lock()
	defer heavy.Unlock()
	before := descriptors(t, env.Daemon.Pid())
	start := time.Now()
	opened, _ := flood(t, env.Lab.LAN, floodSpec{Dst: netip.AddrPortFrom(netlab.HostLANAddr.Addr(), flooded), N: 5000})
	during := descriptors(t, env.Daemon.Pid())
	t.Logf("opened %d connections from lan in %v; daemon descriptors %d before, %d with them held",
		opened, time.Since(start).Round(time.Millisecond), before, during)
	// A carried connection holds its two sockets and, while splice
	// moves its bytes, a pipe (two descriptors) per direction.
	if limit := before + relay.DefaultMaxTCPConns*6 + 32; during > limit {
		t.Errorf("the daemon holds %d descriptors with the flood held, more than %d: %d before, 6 for each of the %d connections one forward carries, and 32 of its own",
			during, limit, before, relay.DefaultMaxTCPConns)
	}
	checkBounded(t, ctx, env, "5,000 idle connections to one forward")
	if err := env.EchoFromLAN(ctx, "tcp", other); err != nil {
		t.Errorf("another forward, with one flooded: %v", err)
	}
}

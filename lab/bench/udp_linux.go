//go:build linux

package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/lab/labrun"
	"github.com/wslfwd/wslfwd/lab/netlab"
)

// udpPayload is each datagram's size: a game's or a QUIC packet, below
// every path's MTU.
const udpPayload = 1200

// udpWindow is how many datagrams the sender keeps in flight: it sends one
// more for each echo that comes back, so the rate is what the path carries
// end to end, not what a sender can drop into a socket.
const udpWindow = 64

// udpWait is how long the sender waits for an echo before it takes a
// datagram as lost and sends another in its place.
const udpWait = 50 * time.Millisecond

// udpRate measures UDP through the relay, the path a UDP forward takes on
// Windows too (TCP goes through portproxy there), against the direct path:
// an echo in wsl, reached from winhost directly and from lan through the
// relay, udpWindow datagrams in flight for Sizes.UDPSample, in
// Sizes.Transfers rounds. The daemon's CPU is measured while it relays.
func (b *run) udpRate(ctx context.Context) (out UDP, err error) {
	out = UDP{Payload: udpPayload, Window: udpWindow, SampleS: b.size.UDPSample.Seconds()}
	port := uint16(b.size.UDPPort)
	pc, err := b.env.Lab.WSL.ListenPacket("udp4", netip.AddrPortFrom(netip.IPv4Unspecified(), port).String())
	if err != nil {
		return out, err
	}
	defer pc.Close()
	go netlab.EchoPackets(pc)
	if _, err := b.env.WaitForward(ctx, labrun.Match{Protocol: wslfwdv1.Protocol_PROTOCOL_UDP, Port: uint32(port),
		State: wslfwdv1.ForwardState_FORWARD_STATE_ACTIVE}); err != nil {
		return out, err
	}
	var direct, relay, ratio, cpu []float64
	for i := range b.size.Transfers {
		d, dl, err := echoRate(ctx, b.env.Lab.WinHost, netip.AddrPortFrom(netlab.WSLAddr.Addr(), port), b.size.UDPSample)
		if err != nil {
			return out, err
		}
		var r float64
		var rl int
		pct, _, err := cpuPercents([]int{b.env.Daemon.Pid()}, func() error {
			r, rl, err = echoRate(ctx, b.env.Lab.LAN, hostPort(int(port)), b.size.UDPSample)
			return err
		})
		if err != nil {
			return out, err
		}
		direct, relay, ratio, cpu = append(direct, d), append(relay, r), append(ratio, r/d), append(cpu, pct[0])
		out.Lost += dl + rl
		fmt.Fprintf(b.log, "     round %d: direct %.0f/s, relay %.0f/s (%.2f), daemon %.0f %% of a core, %d lost\n",
			i+1, d, r, r/d, pct[0], dl+rl)
	}
	out.DirectPerS, out.DirectRange = spread(direct)
	out.RelayPerS, out.RelayRange = spread(relay)
	out.Ratio, out.RatioRange = spread(ratio)
	out.DaemonCPUPct, out.DaemonCPURange = spread(cpu)
	return out, nil
}

// echoRate keeps udpWindow datagrams in flight to the echo at to, from
// inside ns, for d, and returns the echoes a second and how many waits for
// one ran out. It first waits for one echo, since the path may drop
// datagrams until it is up.
func echoRate(ctx context.Context, ns *netlab.NS, to netip.AddrPort, d time.Duration) (float64, int, error) {
	c, err := ns.Dial(ctx, "udp4", to.String())
	if err != nil {
		return 0, 0, err
	}
	defer c.Close()
	out, in := make([]byte, udpPayload), make([]byte, 64<<10)
	if err := firstEcho(ctx, c, out, in); err != nil {
		return 0, 0, fmt.Errorf("echo at %s: %w", to, err)
	}
	for range udpWindow {
		if _, err := c.Write(out); err != nil {
			return 0, 0, fmt.Errorf("send to %s: %w", to, err)
		}
	}
	got, lost := 0, 0
	start := time.Now()
	for end := start.Add(d); time.Now().Before(end); {
		_ = c.SetReadDeadline(time.Now().Add(udpWait))
		_, err := c.Read(in)
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
			lost++
		case err != nil:
			return 0, 0, fmt.Errorf("echo from %s: %w", to, err)
		default:
			got++
		}
		if _, err := c.Write(out); err != nil {
			return 0, 0, fmt.Errorf("send to %s: %w", to, err)
		}
	}
	return float64(got) / time.Since(start).Seconds(), lost, nil
}

// firstEcho sends one datagram at a time until one comes back, for up to
// trialDeadline. A refusal (ICMP port unreachable) only means not yet.
func firstEcho(ctx context.Context, c net.Conn, out, in []byte) error {
	end := time.Now().Add(trialDeadline)
	for time.Now().Before(end) {
		if err := ctx.Err(); err != nil {
			return err
		}
		if _, err := c.Write(out); err != nil && !errors.Is(err, syscall.ECONNREFUSED) {
			return err
		}
		_ = c.SetReadDeadline(time.Now().Add(udpWait))
		if _, err := c.Read(in); err == nil {
			return nil
		}
	}
	return fmt.Errorf("no echo within %v", trialDeadline)
}

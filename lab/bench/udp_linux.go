//go:build linux

package bench

import (
	"context"
	"encoding/binary"
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
// more for each echo that comes back or datagram taken as lost, so the
// rate is what the path carries end to end, not what a sender can drop
// into a socket.
const udpWindow = 64

// udpWait is how long the sender waits for a datagram's echo before it
// takes the datagram as lost.
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
// inside ns, for d, and returns the echoes a second and how many datagrams
// were lost (no echo within udpWait). Each datagram carries its sequence
// number, so an echo counts only for a datagram still awaited. It first
// waits for one echo, since the path may drop datagrams until it is up.
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
	f := newFlight()
	got := 0
	start := time.Now()
	for end := start.Add(d); time.Now().Before(end); {
		if err := ctx.Err(); err != nil {
			return 0, 0, err
		}
		now := time.Now()
		f.expire(now)
		for f.len() < udpWindow {
			binary.BigEndian.PutUint64(out, f.send(now))
			if _, err := c.Write(out); err != nil && !refusal(err) {
				return 0, 0, fmt.Errorf("send to %s: %w", to, err)
			}
		}
		_ = c.SetReadDeadline(f.oldest().Add(udpWait))
		n, err := c.Read(in)
		switch {
		case err == nil:
			if n >= 8 && f.echoed(binary.BigEndian.Uint64(in)) {
				got++
			}
		case errors.Is(err, os.ErrDeadlineExceeded), refusal(err):
			// Expired on the next round; an ICMP refusal is a lost datagram too.
		default:
			return 0, 0, fmt.Errorf("echo from %s: %w", to, err)
		}
	}
	if got == 0 {
		return 0, 0, fmt.Errorf("no echo from %s in %v", to, d)
	}
	return float64(got) / time.Since(start).Seconds(), f.lost, nil
}

// refusal reports whether err is a connected UDP socket's report of an
// ICMP port unreachable for an earlier datagram.
func refusal(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) }

// flight is the datagrams awaiting their echo, by sequence number.
type flight struct {
	next    uint64               // the next sequence number; 0 is the first echo's
	pending map[uint64]time.Time // when each awaited datagram was sent
	order   []uint64             // sequence numbers in the order sent (some no longer pending)
	lost    int
}

func newFlight() *flight { return &flight{next: 1, pending: make(map[uint64]time.Time)} }

func (f *flight) len() int { return len(f.pending) }

// send records a datagram sent at now and returns its sequence number.
func (f *flight) send(now time.Time) uint64 {
	seq := f.next
	f.next++
	f.pending[seq] = now
	f.order = append(f.order, seq)
	return seq
}

// echoed records seq's echo and reports whether it was awaited.
func (f *flight) echoed(seq uint64) bool {
	if _, ok := f.pending[seq]; !ok {
		return false
	}
	delete(f.pending, seq)
	return true
}

// expire takes every datagram sent udpWait or longer before now as lost.
func (f *flight) expire(now time.Time) {
	for len(f.order) > 0 {
		seq := f.order[0]
		sent, ok := f.pending[seq]
		if ok && now.Sub(sent) < udpWait {
			return
		}
		f.order = f.order[1:]
		if ok {
			delete(f.pending, seq)
			f.lost++
		}
	}
}

// oldest returns when the longest-awaited datagram was sent; the flight
// must not be empty.
func (f *flight) oldest() time.Time {
	for _, seq := range f.order {
		if sent, ok := f.pending[seq]; ok {
			return sent
		}
	}
	panic("bench: oldest of an empty flight")
}

// firstEcho sends one datagram at a time until one comes back, for up to
// trialDeadline. A refusal (ICMP port unreachable) only means not yet.
func firstEcho(ctx context.Context, c net.Conn, out, in []byte) error {
	clear(out[:8]) // sequence number 0, never awaited later
	end := time.Now().Add(trialDeadline)
	for time.Now().Before(end) {
		if err := ctx.Err(); err != nil {
			return err
		}
		if _, err := c.Write(out); err != nil && !refusal(err) {
			return err
		}
		_ = c.SetReadDeadline(time.Now().Add(udpWait))
		_, err := c.Read(in)
		if err == nil {
			return nil
		}
		if refusal(err) {
			time.Sleep(udpWait) // a refusal comes back at once: do not spin on it
		}
	}
	return fmt.Errorf("no echo within %v", trialDeadline)
}

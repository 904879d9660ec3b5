//go:build linux

package bench

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os/exec"
	"syscall"
	"time"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/lab/labrun"
	"github.com/wslfwd/wslfwd/lab/netlab"
)

// throughputChunk is the size of the sender's writes and the sink's reads.
const throughputChunk = 256 << 10

// throughput sends Sizes.Bytes over TCP to a sink in wsl, directly from
// winhost (the host's own path to the VM, no forward involved), and from
// lan through the daemon's relay, through socat and through the kernel
// backend's DNAT rule, in Sizes.Transfers rounds of one transfer each. It
// reports each path's median rate and the medians of the rounds' ratios:
// the transfers of a round run back to back, so a change in what else the
// machine does shifts all of them, where the best of each path could come
// from different moments. It logs every round.
func (b *run) throughput(ctx context.Context) (out Throughput, err error) {
	out = Throughput{Bytes: b.size.Bytes, Rounds: b.size.Transfers}
	port := uint16(b.size.SinkPort)
	ln, err := b.env.Lab.WSL.Listen("tcp4", netip.AddrPortFrom(netip.IPv4Unspecified(), port).String())
	if err != nil {
		return out, err
	}
	defer ln.Close()
	go sink(ln)
	if _, err := b.env.WaitForward(ctx, labrun.Match{Protocol: wslfwdv1.Protocol_PROTOCOL_TCP, Port: uint32(port),
		State: wslfwdv1.ForwardState_FORWARD_STATE_ACTIVE}); err != nil {
		return out, err
	}
	undo, err := b.kernelForward(port)
	if err != nil {
		return out, err
	}
	defer func() { err = errors.Join(err, undo()) }()
	paths := []struct {
		ns *netlab.NS
		to netip.AddrPort
	}{
		{b.env.Lab.WinHost, netip.AddrPortFrom(netlab.WSLAddr.Addr(), port)},
		{b.env.Lab.LAN, hostPort(int(port))},
		{b.env.Lab.LAN, hostPort(int(port) + b.size.SocatOffset)},
		{b.env.Lab.LAN, hostPort(int(port) + b.size.KernelOffset)},
	}
	var r rates
	for i := range b.size.Transfers {
		var round [4]float64
		for j, p := range paths {
			if round[j], err = send(ctx, p.ns, p.to, b.size.Bytes); err != nil {
				return out, err
			}
		}
		r.add(round)
		d, rl, s, k := round[0], round[1], round[2], round[3]
		fmt.Fprintf(b.log, "     round %d: direct %.0f MiB/s, relay %.0f MiB/s (%.2f), socat %.0f MiB/s (relay ÷ socat %.2f), kernel %.0f MiB/s (%.2f)\n",
			i+1, d, rl, rl/d, s, rl/s, k, k/d)
	}
	r.into(&out)
	return out, nil
}

// rates are the rounds' rates and ratios, path by path.
type rates struct {
	direct, relay, socat, kernel, ratio, vsSocat, kernelVsSocat, kernelVsDirect []float64
}

// add records a round: direct, relay, socat, kernel.
func (r *rates) add(x [4]float64) {
	d, rl, s, k := x[0], x[1], x[2], x[3]
	r.direct, r.relay, r.socat, r.kernel = append(r.direct, d), append(r.relay, rl), append(r.socat, s), append(r.kernel, k)
	r.ratio, r.vsSocat = append(r.ratio, rl/d), append(r.vsSocat, rl/s)
	r.kernelVsSocat, r.kernelVsDirect = append(r.kernelVsSocat, k/s), append(r.kernelVsDirect, k/d)
}

// into sets each median and range.
func (r *rates) into(out *Throughput) {
	out.DirectMiBs, out.DirectRange = spread(r.direct)
	out.RelayMiBs, out.RelayRange = spread(r.relay)
	out.SocatMiBs, out.SocatRange = spread(r.socat)
	out.KernelMiBs, out.KernelRange = spread(r.kernel)
	out.Ratio, out.RatioRange = spread(r.ratio)
	out.RelayVsSocat, out.RelayVsSocatRange = spread(r.vsSocat)
	out.KernelVsSocat, out.KernelVsSocatRange = spread(r.kernelVsSocat)
	out.KernelVsDirect, out.KernelVsDirectRange = spread(r.kernelVsDirect)
}

// sink counts what each connection sends until the sender closes its
// side, then answers with the count (8 bytes, big endian).
//
// It reads as much at a time as the sender writes. io.Copy to io.Discard
// reads 8 KiB at a time, 130,000 reads a second at 1 GiB/s, and with it
// the sender and sink took about 1.6 times the CPU per byte. On a machine
// with few CPUs the relay path pays for that more than the direct one:
// the relay runs on the same CPUs.
func sink(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			buf := make([]byte, throughputChunk)
			var n int64
			for {
				k, err := c.Read(buf)
				n += int64(k)
				if err == io.EOF {
					break
				}
				if err != nil {
					return
				}
			}
			_ = binary.Write(c, binary.BigEndian, n)
		}()
	}
}

// send writes n bytes to the sink at to from inside ns and returns the
// rate in MiB/s, timed until the sink has confirmed the count.
func send(ctx context.Context, ns *netlab.NS, to netip.AddrPort, n int64) (float64, error) {
	c, err := ns.Dial(ctx, "tcp4", to.String())
	if err != nil {
		return 0, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Minute))
	buf := make([]byte, throughputChunk)
	start := time.Now()
	for left := n; left > 0; {
		k := min(int64(len(buf)), left)
		if _, err := c.Write(buf[:k]); err != nil {
			return 0, fmt.Errorf("send to %s: %w", to, err)
		}
		left -= k
	}
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		return 0, fmt.Errorf("send to %s: %w", to, err)
	}
	var got int64
	if err := binary.Read(c, binary.BigEndian, &got); err != nil {
		return 0, fmt.Errorf("send to %s: read the sink's count: %w", to, err)
	}
	if got != n {
		return 0, fmt.Errorf("send to %s: the sink got %d bytes of %d", to, got, n)
	}
	return float64(n) / (1 << 20) / time.Since(start).Seconds(), nil
}

// signalled reports whether a process's exit error says a signal ended it.
func signalled(err error) bool {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return false
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled()
}

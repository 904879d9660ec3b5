package session

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
)

// maxEchoes bounds the probe listeners open at once.
const maxEchoes = 8

// echoTimeout bounds the WSL-to-host dial and each echo connection.
const echoTimeout = 3 * time.Second

// echoes are the probe echo listeners of one stream. They belong to the
// stream: when it ends they close, since the daemon forgot the probes.
type echoes struct {
	cfg   Config
	ready chan *wslfwdv1.EchoReady
	open  map[string]io.Closer
	inode map[string]uint64
	done  chan struct{} // closed with the stream
}

func newEchoes(cfg Config) *echoes {
	return &echoes{cfg: cfg, ready: make(chan *wslfwdv1.EchoReady, maxEchoes),
		open: map[string]io.Closer{}, inode: map[string]uint64{}, done: make(chan struct{})}
}

// start opens the echo listener of m on 0.0.0.0 and refreshes the state so
// it is reported. It returns the EchoReady when it is complete at once (no
// host target, or a failure); otherwise it dials the host target in the
// background and the EchoReady arrives on e.ready.
func (e *echoes) start(ctx context.Context, m *wslfwdv1.EchoStart, distro string) *wslfwdv1.EchoReady {
	r := &wslfwdv1.EchoReady{ProbeId: m.GetProbeId(), Listen: "0.0.0.0"}
	fail := func(err error) *wslfwdv1.EchoReady {
		r.Error = err.Error()
		return r
	}
	if _, dup := e.open[m.GetProbeId()]; dup {
		return fail(fmt.Errorf("probe %q already has an echo listener", m.GetProbeId()))
	}
	if len(e.open) >= maxEchoes {
		return fail(fmt.Errorf("%d echo listeners are open already, the most the agent allows", maxEchoes))
	}
	addr := "0.0.0.0:" + strconv.Itoa(int(m.GetPort()))
	var c io.Closer
	var local net.Addr
	var err error
	switch m.GetProtocol() {
	case wslfwdv1.Protocol_PROTOCOL_UDP:
		var pc net.PacketConn
		if pc, err = e.cfg.Listen.ListenPacket(ctx, "udp4", addr); err == nil {
			c, local = pc, pc.LocalAddr()
			go echoPackets(pc)
		}
	default:
		var l net.Listener
		if l, err = e.cfg.Listen.Listen(ctx, "tcp4", addr); err == nil {
			c, local = l, l.Addr()
			go echoStreams(l)
		}
	}
	if err != nil {
		return fail(fmt.Errorf("open echo listener on %s: %w", addr, err))
	}
	ino, err := inodeOf(c)
	if err != nil {
		c.Close()
		return fail(fmt.Errorf("echo listener: %w", err))
	}
	e.open[m.GetProbeId()], e.inode[m.GetProbeId()] = c, ino
	e.cfg.State.Show(ino)
	_ = e.cfg.State.Refresh() // failures are logged by the tracker
	if ap, err := netip.ParseAddrPort(local.String()); err == nil {
		r.Port = uint32(ap.Port())
	}
	if m.GetHostTarget() == "" {
		return r
	}
	go func() {
		r.WslToHost = dialHost(ctx, m.GetHostTarget(), distro)
		select {
		case e.ready <- r:
		case <-e.done:
		}
	}()
	return nil
}

// stop closes the echo listener of a probe and reports whether there was one.
func (e *echoes) stop(probe string) bool {
	c, ok := e.open[probe]
	if !ok {
		return false
	}
	c.Close()
	e.cfg.State.Hide(e.inode[probe])
	delete(e.open, probe)
	delete(e.inode, probe)
	_ = e.cfg.State.Refresh()
	return true
}

// closeAll closes every echo listener. Connections being echoed and
// background dials end by their own timeouts.
func (e *echoes) closeAll() {
	close(e.done)
	for p := range e.open {
		e.stop(p)
	}
}

// echoStreams echoes every connection until l closes.
func echoStreams(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			c.SetDeadline(time.Now().Add(echoTimeout))
			io.Copy(c, c)
		}()
	}
}

// echoPackets echoes every datagram until pc closes.
func echoPackets(pc net.PacketConn) {
	buf := make([]byte, 64<<10)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		pc.WriteTo(buf[:n], from)
	}
}

// dialHost tests the WSL-to-host path: the target is the daemon's own
// port, so a completed TCP connect is the success criterion.
func dialHost(ctx context.Context, target, distro string) *wslfwdv1.PathResult {
	r := &wslfwdv1.PathResult{Name: "wsl-to-host", From: "wsl (" + distro + ")", To: target}
	d := net.Dialer{Timeout: echoTimeout}
	start := time.Now()
	c, err := d.DialContext(ctx, "tcp", target)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	r.Latency = durationpb.New(time.Since(start))
	c.Close()
	r.Ok = true
	return r
}

//go:build linux

package session_test

import (
	"context"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netns"

	"github.com/wslfwd/wslfwd/agent-linux/internal/nstest"
	"github.com/wslfwd/wslfwd/agent-linux/scan"
	"github.com/wslfwd/wslfwd/agent-linux/tracker"
	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
)

// inNS opens echo listeners inside the test's namespace, as the agent does
// inside its distro.
type inNS struct {
	t  *testing.T
	ns netns.NsHandle
}

func (n inNS) Listen(ctx context.Context, network, addr string) (l net.Listener, err error) {
	nstest.Do(n.t, n.ns, func() { l, err = (&net.ListenConfig{}).Listen(ctx, network, addr) })
	return l, err
}

func (n inNS) ListenPacket(ctx context.Context, network, addr string) (c net.PacketConn, err error) {
	nstest.Do(n.t, n.ns, func() { c, err = (&net.ListenConfig{}).ListenPacket(ctx, network, addr) })
	return c, err
}

// TestEchoProbe runs the agent against the real sockets of a namespace:
// its own sockets stay hidden, but the probe echo listener is reported as
// wslfwd-agent before the EchoReady, echoes, and goes with EchoStop.
func TestEchoProbe(t *testing.T) {
	ns := nstest.New(t)
	d := startDaemon(t, testToken)
	h := newHarness(t, d.addr, testToken)
	sys, err := scan.OpenAt(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Close()
	h.tr = tracker.New(tracker.Config{Source: sys, SelfPID: os.Getpid()})
	if err := h.tr.Refresh(); err != nil {
		t.Fatal(err)
	}
	h.cfg.State = h.tr
	h.cfg.Listen = inNS{t, ns}
	// A socket of the agent's own process that is not a probe: never reported.
	var own net.Listener
	nstest.Do(t, ns, func() { own, err = net.Listen("tcp4", "0.0.0.0:0") })
	if err != nil {
		t.Fatal(err)
	}
	defer own.Close()
	h.run(t)

	fs := d.nextStream(t)
	fs.next(t) // hello
	expectSnapshot(t, fs.next(t), 1)

	fs.out <- &wslfwdv1.HostMessage{Msg: &wslfwdv1.HostMessage_EchoStart{EchoStart: &wslfwdv1.EchoStart{
		ProbeId: "p1", Protocol: wslfwdv1.Protocol_PROTOCOL_TCP, HostTarget: d.addr}}}
	c := fs.next(t).GetChanges()
	if c.GetSeq() != 2 || len(c.GetAdded()) != 1 || len(c.GetRemoved()) != 0 {
		t.Fatalf("changes %v, want the echo listener added", c)
	}
	l := c.GetAdded()[0]
	if l.GetListen() != "0.0.0.0" || l.GetProcessName() != "wslfwd-agent" || l.GetPid() != uint32(os.Getpid()) {
		t.Errorf("echo listener reported as %v", l)
	}
	r := fs.next(t).GetEchoReady()
	if r == nil || r.GetProbeId() != "p1" || r.GetError() != "" || r.GetPort() != l.GetPort() || r.GetListen() != "0.0.0.0" {
		t.Fatalf("echo ready %v, want probe p1 on port %d", r, l.GetPort())
	}
	if p := r.GetWslToHost(); !p.GetOk() || p.GetTo() != d.addr || p.GetName() != "wsl-to-host" || p.GetLatency() == nil {
		t.Errorf("wsl-to-host result %v, want ok to %s", p, d.addr)
	}

	nstest.Do(t, ns, func() {
		conn, err := net.DialTimeout("tcp4", "127.0.0.1:"+strconv.Itoa(int(r.GetPort())), 5*time.Second)
		if err != nil {
			t.Errorf("dial echo listener: %v", err)
			return
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(5 * time.Second))
		conn.Write([]byte("ping"))
		buf := make([]byte, 4)
		if _, err := io.ReadFull(conn, buf); err != nil || string(buf) != "ping" {
			t.Errorf("echo: %q, %v", buf, err)
		}
	})

	fs.out <- &wslfwdv1.HostMessage{Msg: &wslfwdv1.HostMessage_EchoStop{EchoStop: &wslfwdv1.EchoStop{ProbeId: "p1"}}}
	expectChanges(t, fs.next(t), 3, nil, []uint32{r.GetPort()})
}

// TestEchoProbeOverTheLimit: when the daemon's limit leaves the probe's
// echo listener out (the distro's older listeners fill it), the EchoReady
// says so at once, rather than have the daemon wait out the probe for a
// forward that cannot come.
func TestEchoProbeOverTheLimit(t *testing.T) {
	ns := nstest.New(t)
	d := startDaemon(t, testToken)
	d.max.Store(1)
	h := newHarness(t, d.addr, testToken)
	sys, err := scan.OpenAt(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Close()
	// No SelfPID: this process's sockets are the distro's services.
	h.tr = tracker.New(tracker.Config{Source: sys})
	h.cfg.State = h.tr
	h.cfg.Listen = inNS{t, ns}
	var svc net.Listener
	nstest.Do(t, ns, func() { svc, err = net.Listen("tcp4", "0.0.0.0:0") })
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	if err := h.tr.Refresh(); err != nil {
		t.Fatal(err)
	}
	h.run(t)

	fs := d.nextStream(t)
	fs.next(t) // hello
	port := uint32(svc.Addr().(*net.TCPAddr).Port)
	expectSnapshot(t, fs.next(t), 1, port)
	fs.out <- &wslfwdv1.HostMessage{Msg: &wslfwdv1.HostMessage_EchoStart{EchoStart: &wslfwdv1.EchoStart{
		ProbeId: "p1", Protocol: wslfwdv1.Protocol_PROTOCOL_TCP}}}
	if c := expectChanges(t, fs.next(t), 2, nil, nil); c.GetUnreportedListeners() != 1 {
		t.Errorf("changes %v, want the echo listener counted as unreported", c)
	}
	r := fs.next(t).GetEchoReady()
	if r.GetProbeId() != "p1" || !strings.Contains(r.GetError(), "the echo listener is not reported") {
		t.Errorf("echo ready %v, want it to say the echo listener is not reported", r)
	}
}

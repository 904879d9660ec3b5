package engine

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/hostd-windows/agents"
)

// ProbeRequest asks for a probe of one distro's paths.
type ProbeRequest struct {
	Distro  string        // empty means the only connected agent's distro
	Port    uint16        // the echo listener's port; 0 lets the daemon pick one
	Timeout time.Duration // the wait allowed for each step
}

// Probe tests the three paths across the boundary with a temporary echo
// listener in the distro: wsl-to-host (the agent dials the daemon's address
// as it sees it), host-to-wsl (the daemon dials the distro's address) and
// lan-to-wsl (the daemon dials the forward's host address, standing in for
// a LAN client). The echo listener is always closed again.
func (d *Engine) Probe(ctx context.Context, req ProbeRequest) (*wslfwdv1.ProbeResponse, error) {
	distro, err := d.pickDistro(req.Distro, true)
	if err != nil {
		return nil, err
	}
	s, ok := d.reg.Connected(distro)
	if !ok {
		return nil, errorf(ErrNotReady, "the agent of %s disconnected", distro)
	}
	p := &prober{d: d, ctx: ctx, timeout: req.Timeout, s: s, distro: distro}
	er, stop, err := p.openAnyEcho(req.Port)
	if err != nil {
		return nil, err
	}
	defer stop()
	w2h := p.wslToHost(er)
	h2w, l2w := p.throughForward(er.GetPort())
	return &wslfwdv1.ProbeResponse{
		Distro: distro,
		Port:   er.GetPort(),
		Paths:  []*wslfwdv1.PathResult{w2h, h2w, l2w},
		Ok:     w2h.GetOk() && h2w.GetOk() && l2w.GetOk(),
	}, nil
}

// prober is one probe of one agent's distro.
type prober struct {
	d       *Engine
	ctx     context.Context
	timeout time.Duration
	s       *agents.Session
	distro  string
}

// step runs f with a context that ends after the probe's timeout: each
// step (the echo listener, the forward, each dial) gets the full timeout.
func (p *prober) step(f func(ctx context.Context)) {
	ctx, cancel := context.WithTimeout(p.ctx, p.timeout)
	defer cancel()
	f(ctx)
}

// echoTries is how many ports a probe with none asked for tries.
const echoTries = 3

// openAnyEcho opens the echo listener on port, or, for 0, on a port of
// the dynamic range the daemon picks, another if the agent cannot open
// it. The daemon dials the port the agent names, so the agent never
// picks it: in mirrored mode a lying agent could name any port on the
// host's loopback.
func (p *prober) openAnyEcho(port uint16) (er *wslfwdv1.EchoReady, stop func(), err error) {
	if port != 0 {
		return p.openEcho(uint32(port))
	}
	for range echoTries {
		var b [2]byte
		rand.Read(b[:])
		port := 49152 + uint32(binary.BigEndian.Uint16(b[:]))%16384
		if er, stop, err = p.openEcho(port); !errors.Is(err, ErrNotReady) {
			break
		}
	}
	return er, stop, err
}

// openEcho asks the agent for an echo listener on port and waits until it
// is open, on that port. stop closes it again.
func (p *prober) openEcho(port uint32) (er *wslfwdv1.EchoReady, stop func(), err error) {
	id := probeID()
	ready, cancel := p.s.StartEcho(&wslfwdv1.EchoStart{
		ProbeId:    id,
		Protocol:   wslfwdv1.Protocol_PROTOCOL_TCP,
		Port:       port,
		HostTarget: p.s.Local.String(),
	})
	stop = func() {
		p.s.StopEcho(id)
		cancel()
	}
	p.step(func(ctx context.Context) { er, err = p.awaitEcho(ctx, ready) })
	if err == nil && er.GetPort() != port {
		// The daemon sends to the port the agent names: only the one asked.
		err = fmt.Errorf("the agent of %s opened its echo listener on port %d, not %d as asked", p.distro, er.GetPort(), port)
	}
	if err != nil {
		stop()
		return nil, nil, err
	}
	return er, stop, nil
}

// probeID names one probe's echo listener to the agent.
func probeID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// awaitEcho waits for the agent's answer to the echo start.
func (p *prober) awaitEcho(ctx context.Context, ready <-chan *wslfwdv1.EchoReady) (*wslfwdv1.EchoReady, error) {
	var er *wslfwdv1.EchoReady
	select {
	case er = <-ready:
	case <-p.s.Replaced():
		return nil, errorf(ErrUnavailable, "the agent of %s reconnected during the probe; try again", p.distro)
	case <-ctx.Done():
		if err := p.ctx.Err(); err != nil {
			return nil, err
		}
		return nil, errorf(ErrTimeout, "the agent of %s did not open an echo listener within %s", p.distro, p.timeout)
	}
	if er.GetError() != "" {
		return nil, errorf(ErrNotReady, "the agent of %s could not open an echo listener: %s", p.distro, er.GetError())
	}
	if er.GetPort() < 1 || er.GetPort() > 65535 {
		return nil, fmt.Errorf("the agent of %s reported echo port %d", p.distro, er.GetPort())
	}
	return er, nil
}

// wslToHost is the path the agent tested, as it reported it.
func (p *prober) wslToHost(er *wslfwdv1.EchoReady) *wslfwdv1.PathResult {
	r := er.GetWslToHost()
	if r == nil {
		r = &wslfwdv1.PathResult{Error: "the agent reported no result"}
	}
	r.Name = "wsl-to-host"
	if r.From == "" {
		r.From = fmt.Sprintf("wsl (%s)", p.distro)
	}
	return r
}

// throughForward waits for the echo listener's forward, then tests the
// paths to the distro from the host and, through the forward, from the
// LAN's side.
func (p *prober) throughForward(port uint32) (h2w, l2w *wslfwdv1.PathResult) {
	h2w = &wslfwdv1.PathResult{Name: "host-to-wsl", From: "host (daemon)"}
	// Dialed on the host: the firewall does not filter it, and From says so.
	l2w = &wslfwdv1.PathResult{Name: "lan-to-wsl", From: "host, to its own LAN address"}
	var f *wslfwdv1.Forward
	var err error
	p.step(func(ctx context.Context) { f, err = p.d.waitForward(ctx, p.s.ID, port) })
	if err != nil {
		h2w.Error, l2w.Error = err.Error(), err.Error()
		return h2w, l2w
	}
	hostTarget, lanTarget, err := p.d.probeTargets(f, port)
	p.dial(h2w, hostTarget, err)
	p.dial(l2w, lanTarget, err)
	return h2w, l2w
}

// dial tests the path to to, or says why there is no address to dial.
func (p *prober) dial(r *wslfwdv1.PathResult, to netip.AddrPort, why error) {
	if !to.IsValid() {
		r.Error = fmt.Sprintf("no address to dial: %v", why)
		return
	}
	p.step(func(ctx context.Context) { p.d.echoPath(ctx, r, to) })
}

// probeTargets are where the host (the distro's side of forward f) and a
// LAN client (its host side) reach the echo listener on port. Mirrored
// mode and WSL1 share the host's addresses, so a direct listener is
// reached on loopback and on the host's LAN address.
func (d *Engine) probeTargets(f *wslfwdv1.Forward, port uint32) (host, lan netip.AddrPort, err error) {
	if f.GetState() == wslfwdv1.ForwardState_FORWARD_STATE_DIRECT {
		host = netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port))
		lan, err = d.lanTarget(netip.IPv4Unspecified(), uint16(port))
		return host, lan, err
	}
	if host, err = addrPort(f.GetConnectAddress(), f.GetConnectPort()); err != nil {
		return host, lan, err
	}
	la, err := netip.ParseAddr(f.GetListenAddress())
	if err != nil {
		return host, lan, err
	}
	lan, err = d.lanTarget(la, uint16(f.GetListenPort()))
	return host, lan, err
}

func addrPort(addr string, port uint32) (netip.AddrPort, error) {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return netip.AddrPort{}, err
	}
	return netip.AddrPortFrom(a, uint16(port)), nil
}

// waitForward waits until the forward of the session's TCP listener on
// port is active (or direct), or fails with why it is not.
func (d *Engine) waitForward(ctx context.Context, sessionID string, port uint32) (*wslfwdv1.Forward, error) {
	last := "the echo listener was not reported by the agent"
	for {
		d.mu.Lock()
		ran := d.ran
		var found *wslfwdv1.Forward
		for _, r := range d.table {
			if r.agentID == sessionID && r.listener != nil && r.listener.GetPort() == port &&
				r.listener.GetProtocol() == wslfwdv1.Protocol_PROTOCOL_TCP {
				found = r.fwd
				break
			}
		}
		d.mu.Unlock()
		if found != nil {
			switch found.GetState() {
			case wslfwdv1.ForwardState_FORWARD_STATE_ACTIVE, wslfwdv1.ForwardState_FORWARD_STATE_DIRECT:
				return found, nil
			case wslfwdv1.ForwardState_FORWARD_STATE_PENDING:
				last = "the forward is still pending"
			default:
				return nil, fmt.Errorf("the echo listener is not forwarded: %s: %s", stateName(found.GetState()), found.GetReason())
			}
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("no forward within the timeout: %s", last)
		case <-d.done:
			return nil, errors.New("the daemon is shutting down")
		case <-ran:
		}
	}
}

func stateName(s wslfwdv1.ForwardState) string {
	switch s {
	case wslfwdv1.ForwardState_FORWARD_STATE_BLOCKED:
		return "blocked"
	case wslfwdv1.ForwardState_FORWARD_STATE_CONFLICT:
		return "conflict"
	case wslfwdv1.ForwardState_FORWARD_STATE_ERROR:
		return "error"
	}
	return s.String()
}

// lanTarget is where a LAN client would connect: the forward's address,
// or, when it listens on every address, the host's first LAN address.
func (d *Engine) lanTarget(listen netip.Addr, port uint16) (netip.AddrPort, error) {
	if !listen.IsUnspecified() {
		return netip.AddrPortFrom(listen, port), nil
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("list the host's addresses: %w", err)
	}
	var host []netip.Addr
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok {
				host = append(host, ip.Unmap())
			}
		}
	}
	ip, ok := lanAddr(host, d.wslPrefixes())
	if !ok {
		return netip.AddrPort{}, fmt.Errorf("the host has no IPv4 address outside the WSL network")
	}
	return netip.AddrPortFrom(ip, port), nil
}

// lanAddr picks the first IPv4 address that is neither loopback,
// link-local, nor inside a WSL subnet: the address a LAN client would use.
func lanAddr(host []netip.Addr, wsl []netip.Prefix) (netip.Addr, bool) {
	for _, ip := range host {
		if !ip.Is4() || ip.IsLoopback() || ip.IsLinkLocalUnicast() || ip.IsUnspecified() {
			continue
		}
		if !slices.ContainsFunc(wsl, func(p netip.Prefix) bool { return p.Contains(ip) }) {
			return ip, true
		}
	}
	return netip.Addr{}, false
}

// wslPrefixes are the subnets of the agents' reported addresses.
func (d *Engine) wslPrefixes() []netip.Prefix {
	var out []netip.Prefix
	for _, a := range d.reg.Agents() {
		for _, ifc := range a.GetNetwork().GetInterfaces() {
			for _, ia := range ifc.GetAddresses() {
				ip, err := netip.ParseAddr(ia.GetAddress())
				if err != nil || ip.IsLoopback() {
					continue
				}
				if p, err := ip.WithZone("").Prefix(int(ia.GetPrefixLength())); err == nil {
					out = append(out, p)
				}
			}
		}
	}
	return out
}

// echoPath dials to, sends a random payload and expects it back intact.
func (d *Engine) echoPath(ctx context.Context, r *wslfwdv1.PathResult, to netip.AddrPort) {
	r.To = net.JoinHostPort(to.Addr().String(), strconv.Itoa(int(to.Port())))
	start := time.Now()
	dial := d.opts.Dial
	if dial == nil {
		var dl net.Dialer
		dial = dl.DialContext
	}
	c, err := dial(ctx, "tcp", r.To)
	if err != nil {
		r.Error = err.Error()
		return
	}
	defer c.Close()
	if t, ok := ctx.Deadline(); ok {
		c.SetDeadline(t)
	}
	payload := make([]byte, 32)
	rand.Read(payload)
	if _, err := c.Write(payload); err != nil {
		r.Error = fmt.Sprintf("send: %v", err)
		return
	}
	got := make([]byte, len(payload))
	if _, err := io.ReadFull(c, got); err != nil {
		r.Error = fmt.Sprintf("read the echo: %v", err)
		return
	}
	if !bytes.Equal(got, payload) {
		r.Error = "the echo came back altered"
		return
	}
	r.Ok = true
	r.Latency = durationpb.New(time.Since(start))
}

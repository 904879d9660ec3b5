package daemon

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
)

const (
	defaultProbeTimeout = 5 * time.Second
	maxProbeTimeout     = time.Minute
)

// Probe tests the three paths across the boundary with a temporary echo
// listener in the distro: wsl-to-host (the agent dials the daemon's address
// as it sees it), host-to-wsl (the daemon dials the distro's address) and
// lan-to-wsl (the daemon dials the forward's host address, standing in for
// a LAN client). The echo listener is always closed again.
func (d *Daemon) Probe(ctx context.Context, req *wslfwdv1.ProbeRequest) (*wslfwdv1.ProbeResponse, error) {
	timeout := defaultProbeTimeout
	if req.GetTimeout() != nil {
		if err := req.GetTimeout().CheckValid(); err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "timeout: %v", err)
		}
		timeout = req.GetTimeout().AsDuration()
		if timeout <= 0 || timeout > maxProbeTimeout {
			return nil, status.Errorf(codes.InvalidArgument, "timeout %s out of range (0, %s]", timeout, maxProbeTimeout)
		}
	}
	if req.GetPort() > 65535 {
		return nil, status.Errorf(codes.InvalidArgument, "port %d out of range 0-65535", req.GetPort())
	}
	distro, err := d.pickDistro(req.GetDistro(), true)
	if err != nil {
		return nil, err
	}
	s, ok := d.reg.Connected(distro)
	if !ok {
		return nil, status.Errorf(codes.FailedPrecondition, "the agent of %s disconnected", distro)
	}

	var idb [8]byte
	rand.Read(idb[:])
	id := hex.EncodeToString(idb[:])
	ready, cancel := s.StartEcho(&wslfwdv1.EchoStart{
		ProbeId:    id,
		Protocol:   wslfwdv1.Protocol_PROTOCOL_TCP,
		Port:       req.GetPort(),
		HostTarget: s.Local.String(),
	})
	defer cancel()
	defer s.StopEcho(id)

	// Each step gets the full timeout.
	step := func() (context.Context, context.CancelFunc) { return context.WithTimeout(ctx, timeout) }
	var er *wslfwdv1.EchoReady
	wait, stop := step()
	defer stop()
	select {
	case er = <-ready:
	case <-s.Replaced():
		return nil, status.Errorf(codes.Unavailable, "the agent of %s reconnected during the probe; try again", distro)
	case <-wait.Done():
		if ctx.Err() != nil {
			return nil, status.FromContextError(ctx.Err()).Err()
		}
		return nil, status.Errorf(codes.DeadlineExceeded, "the agent of %s did not open an echo listener within %s", distro, timeout)
	}
	if er.GetError() != "" {
		return nil, status.Errorf(codes.FailedPrecondition, "the agent of %s could not open an echo listener: %s", distro, er.GetError())
	}
	if er.GetPort() < 1 || er.GetPort() > 65535 {
		return nil, status.Errorf(codes.Internal, "the agent of %s reported echo port %d", distro, er.GetPort())
	}
	resp := &wslfwdv1.ProbeResponse{Distro: distro, Port: er.GetPort()}
	w2h := er.GetWslToHost()
	if w2h == nil {
		w2h = &wslfwdv1.PathResult{Error: "the agent reported no result"}
	}
	w2h.Name = "wsl-to-host"
	if w2h.From == "" {
		w2h.From = fmt.Sprintf("wsl (%s)", distro)
	}

	h2w := &wslfwdv1.PathResult{Name: "host-to-wsl", From: "host (daemon)"}
	// Dialed on the host: the firewall does not filter it, and From says so.
	l2w := &wslfwdv1.PathResult{Name: "lan-to-wsl", From: "host, to its own LAN address"}
	wait, stop = step()
	defer stop()
	f, err := d.waitForward(wait, s.ID, er.GetPort())
	if err != nil {
		h2w.Error, l2w.Error = err.Error(), err.Error()
	} else {
		var hostTarget, lanTarget netip.AddrPort
		var terr error
		if f.GetState() == wslfwdv1.ForwardState_FORWARD_STATE_DIRECT {
			// Mirrored mode and WSL1 share the host's addresses.
			hostTarget = netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(er.GetPort()))
			lanTarget, terr = d.lanTarget(netip.IPv4Unspecified(), uint16(er.GetPort()))
		} else {
			hostTarget, terr = addrPort(f.GetConnectAddress(), f.GetConnectPort())
			if terr == nil {
				var la netip.Addr
				la, terr = netip.ParseAddr(f.GetListenAddress())
				if terr == nil {
					lanTarget, terr = d.lanTarget(la, uint16(f.GetListenPort()))
				}
			}
		}
		if hostTarget.IsValid() {
			wait, stop := step()
			d.echoPath(wait, h2w, hostTarget)
			stop()
		} else {
			h2w.Error = fmt.Sprintf("no address to dial: %v", terr)
		}
		if lanTarget.IsValid() {
			wait, stop := step()
			d.echoPath(wait, l2w, lanTarget)
			stop()
		} else {
			l2w.Error = fmt.Sprintf("no address to dial: %v", terr)
		}
	}
	resp.Paths = []*wslfwdv1.PathResult{w2h, h2w, l2w}
	resp.Ok = w2h.GetOk() && h2w.GetOk() && l2w.GetOk()
	return resp, nil
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
func (d *Daemon) waitForward(ctx context.Context, sessionID string, port uint32) (*wslfwdv1.Forward, error) {
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
func (d *Daemon) lanTarget(listen netip.Addr, port uint16) (netip.AddrPort, error) {
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
func (d *Daemon) wslPrefixes() []netip.Prefix {
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
func (d *Daemon) echoPath(ctx context.Context, r *wslfwdv1.PathResult, to netip.AddrPort) {
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

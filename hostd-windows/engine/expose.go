package engine

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/hostd-windows/backend"
	"github.com/wslfwd/wslfwd/hostd-windows/policy"
	"github.com/wslfwd/wslfwd/hostd-windows/statics"
	"github.com/wslfwd/wslfwd/hostd-windows/wire"
)

// ExposeRequest is a static forward as a caller asks for it.
type ExposeRequest struct {
	Protocol backend.Protocol
	Port     uint16     // the distro's port
	HostPort uint16     // the host's port
	Listen   netip.Addr // the host address; zero means the expose address
	Distro   string     // empty means the only known agent's distro
}

// Expose pins a static forward and returns it after a run of the engine.
// A request for a forward that can never exist is refused with ErrInvalid
// and saves nothing (checkHostSide says which).
func (d *Engine) Expose(ctx context.Context, req ExposeRequest) (*wslfwdv1.Forward, error) {
	if err := d.checkHostSide(req.Listen, req.HostPort); err != nil {
		return nil, err
	}
	distro, err := d.pickDistro(req.Distro, false)
	if err != nil {
		return nil, err
	}
	st := policy.Static{
		Protocol:   req.Protocol,
		Port:       req.Port,
		Distro:     distro,
		HostPort:   req.HostPort,
		ListenAddr: req.Listen,
		Origin:     wslfwdv1.ForwardOrigin_FORWARD_ORIGIN_STATIC,
	}
	if err := d.opts.Statics.Add(st); err != nil {
		return nil, staticsError("expose", err)
	}
	d.log.Info("static forward added", "protocol", st.Protocol, "port", st.Port, "distro", distro, "host_port", st.HostPort, "listen", st.ListenAddr)
	if err := d.waitRun(ctx); err != nil {
		return nil, err
	}
	if f := d.staticRow(st); f != nil {
		return f, nil
	}
	return nil, errors.New("static forward saved but missing from the forwards table")
}

// checkHostSide refuses, with ErrInvalid, a host side no forward can
// ever have: a listen address that is not one of the host's (nothing
// could listen there; a broadcast address even "works" on some stacks),
// the daemon's own port, or a port the deny list blocks. Policy would
// only mark such a forward BLOCKED; saving it would keep a promise the
// daemon cannot keep. listen's zero value is the expose address, which
// the config already checked.
func (d *Engine) checkHostSide(listen netip.Addr, hostPort uint16) error {
	if host := cmp.Or(listen, d.opts.ExposeAddr); host.IsLoopback() && d.opts.Backend.Name() == "portproxy" {
		return errorf(ErrInvalid,
			"portproxy cannot listen on %s: a loopback entry loops back into portproxy and collides with WSL's own localhost relay; use the LAN address or 0.0.0.0", host)
	}
	if listen.IsValid() {
		if err := checkListenAddr(listen, net.InterfaceAddrs); err != nil {
			return errorf(ErrInvalid, "listen_address %s: %v", listen, err)
		}
	}
	if slices.Contains(d.reservedPorts(), hostPort) {
		return errorf(ErrInvalid, "host port %d is the daemon's own port: pick another host port", hostPort)
	}
	if d.opts.Config.Denied(hostPort) {
		return errorf(ErrInvalid, "host port %d is in the daemon's deny list (deny_ports): pick another host port", hostPort)
	}
	return nil
}

// checkListenAddr accepts the unspecified addresses (every address) and
// the host's own unicast addresses, as hostAddrs (net.InterfaceAddrs)
// lists them now.
func checkListenAddr(a netip.Addr, hostAddrs func() ([]net.Addr, error)) error {
	const use = "use one of the host's addresses, or 0.0.0.0 or :: for all of them"
	switch {
	case a.IsUnspecified():
		return nil
	case a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return fmt.Errorf("a broadcast address is not one a forward can listen on; %s", use)
	case a.IsMulticast():
		return fmt.Errorf("a multicast address is not one a forward can listen on; %s", use)
	}
	addrs, err := hostAddrs()
	if err != nil {
		return fmt.Errorf("list the host's addresses: %w", err)
	}
	var have []string
	for _, x := range addrs {
		p, err := netip.ParsePrefix(x.String())
		if err != nil {
			continue
		}
		if p.Addr().Unmap() == a {
			return nil
		}
		have = append(have, p.Addr().String())
	}
	if len(have) > maxListed {
		have = append(have[:maxListed], "…")
	}
	return fmt.Errorf("the host has no such address (it has %s); %s", strings.Join(have, ", "), use)
}

// maxListed bounds the host addresses an error lists.
const maxListed = 8

// Unexpose removes a static forward made by Expose: the one of protocol
// p on host (a zero address is the expose address). It does not check
// the host side as Expose does: a static saved before those checks
// existed, or whose address the host has since lost, must stay removable.
func (d *Engine) Unexpose(ctx context.Context, p backend.Protocol, host netip.AddrPort) (*wslfwdv1.Forward, error) {
	st, err := d.opts.Statics.Remove(p, host)
	if err != nil {
		return nil, staticsError("unexpose", err)
	}
	f := d.staticRow(st)
	if f == nil {
		f = d.staticForward(st)
	}
	d.log.Info("static forward removed", "protocol", p, "host_port", host.Port(), "listen", host.Addr())
	if err := d.waitRun(ctx); err != nil {
		return nil, err
	}
	return f, nil
}

// staticForward describes a static forward that is not in the table.
func (d *Engine) staticForward(st policy.Static) *wslfwdv1.Forward {
	listen := st.ListenAddr
	if !listen.IsValid() {
		listen = d.opts.ExposeAddr
	}
	return &wslfwdv1.Forward{
		Protocol:      wire.ProtocolToProto(st.Protocol),
		ListenAddress: listen.String(),
		ListenPort:    uint32(st.HostPort),
		ConnectPort:   uint32(st.Port),
		Distro:        st.Distro,
		Origin:        st.Origin,
	}
}

// staticRow finds the table's row for a static forward.
func (d *Engine) staticRow(st policy.Static) *wslfwdv1.Forward {
	want := d.staticForward(st)
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, r := range d.table {
		f := r.fwd
		if r.listener == nil && f.GetOrigin() == st.Origin && f.GetDistro() == st.Distro &&
			f.GetProtocol() == want.GetProtocol() && f.GetListenPort() == want.GetListenPort() &&
			f.GetListenAddress() == want.GetListenAddress() {
			return f
		}
	}
	return nil
}

// pickDistro returns distro if an agent of that name is known (connected
// or in grace), or the only known agent's distro when distro is empty.
func (d *Engine) pickDistro(distro string, connectedOnly bool) (string, error) {
	known := d.reg.Distros(connectedOnly)
	if distro != "" {
		if !slices.Contains(known, distro) {
			return "", errorf(ErrNotFound, "no agent of distro %q is known (known: %v)", distro, known)
		}
		return distro, nil
	}
	switch len(known) {
	case 0:
		return "", errorf(ErrNotReady, "no agent is connected; name the distro once its agent runs")
	case 1:
		return known[0], nil
	}
	return "", errorf(ErrInvalid, "%d agents are known (%v): name the distro", len(known), known)
}

// staticsError gives a statics store error its kind.
func staticsError(op string, err error) error {
	switch {
	case errors.Is(err, statics.ErrExists):
		return errorf(ErrExists, "%s: %v", op, err)
	case errors.Is(err, statics.ErrNotFound):
		return errorf(ErrNotFound, "%s: %v", op, err)
	case errors.Is(err, statics.ErrInvalid):
		return errorf(ErrInvalid, "%s: %v", op, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

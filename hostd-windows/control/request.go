package control

import (
	"net/netip"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/hostd-windows/backend"
	"github.com/wslfwd/wslfwd/hostd-windows/engine"
	"github.com/wslfwd/wslfwd/hostd-windows/wire"
)

// The probe's wait for each step.
const (
	defaultProbeTimeout = 5 * time.Second
	maxProbeTimeout     = time.Minute
)

// exposeRequest checks an ExposeRequest's fields: a known protocol (TCP
// when unset), ports in range (the host port defaults to the port) and an
// optional host address.
func exposeRequest(req *wslfwdv1.ExposeRequest) (engine.ExposeRequest, error) {
	p, err := protocolOf(req.GetProtocol())
	if err != nil {
		return engine.ExposeRequest{}, err
	}
	if req.GetPort() < 1 || req.GetPort() > 65535 {
		return engine.ExposeRequest{}, status.Errorf(codes.InvalidArgument, "port %d out of range 1-65535", req.GetPort())
	}
	hostPort := req.GetHostPort()
	if hostPort == 0 {
		hostPort = req.GetPort()
	}
	if hostPort > 65535 {
		return engine.ExposeRequest{}, status.Errorf(codes.InvalidArgument, "host_port %d out of range 1-65535", hostPort)
	}
	listen, err := parseListen(req.GetListenAddress())
	if err != nil {
		return engine.ExposeRequest{}, err
	}
	return engine.ExposeRequest{Protocol: p, Port: uint16(req.GetPort()), HostPort: uint16(hostPort), Listen: listen, Distro: req.GetDistro()}, nil
}

// unexposeRequest checks an UnexposeRequest's form only (see
// engine.Unexpose).
func unexposeRequest(req *wslfwdv1.UnexposeRequest) (backend.Protocol, netip.AddrPort, error) {
	p, err := protocolOf(req.GetProtocol())
	if err != nil {
		return "", netip.AddrPort{}, err
	}
	if req.GetHostPort() < 1 || req.GetHostPort() > 65535 {
		return "", netip.AddrPort{}, status.Errorf(codes.InvalidArgument, "host_port %d out of range 1-65535", req.GetHostPort())
	}
	listen, err := parseListen(req.GetListenAddress())
	if err != nil {
		return "", netip.AddrPort{}, err
	}
	return p, netip.AddrPortFrom(listen, uint16(req.GetHostPort())), nil
}

// probeRequest checks a ProbeRequest: a timeout in (0, maxProbeTimeout],
// defaultProbeTimeout when unset, and a port in range (0: the agent's
// choice).
func probeRequest(req *wslfwdv1.ProbeRequest) (engine.ProbeRequest, error) {
	timeout := defaultProbeTimeout
	if req.GetTimeout() != nil {
		if err := req.GetTimeout().CheckValid(); err != nil {
			return engine.ProbeRequest{}, status.Errorf(codes.InvalidArgument, "timeout: %v", err)
		}
		timeout = req.GetTimeout().AsDuration()
		if timeout <= 0 || timeout > maxProbeTimeout {
			return engine.ProbeRequest{}, status.Errorf(codes.InvalidArgument, "timeout %s out of range (0, %s]", timeout, maxProbeTimeout)
		}
	}
	if req.GetPort() > 65535 {
		return engine.ProbeRequest{}, status.Errorf(codes.InvalidArgument, "port %d out of range 0-65535", req.GetPort())
	}
	return engine.ProbeRequest{Distro: req.GetDistro(), Port: uint16(req.GetPort()), Timeout: timeout}, nil
}

// protocolOf maps a request's protocol, TCP when unset.
func protocolOf(p wslfwdv1.Protocol) (backend.Protocol, error) {
	if p == wslfwdv1.Protocol_PROTOCOL_UNSPECIFIED {
		return backend.TCP, nil
	}
	if bp, ok := wire.ProtocolFromProto(p); ok {
		return bp, nil
	}
	return "", status.Errorf(codes.InvalidArgument, "unknown protocol %d", int32(p))
}

// parseListen parses an optional host address; empty means the expose
// address (the zero Addr).
func parseListen(s string) (netip.Addr, error) {
	if s == "" {
		return netip.Addr{}, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, status.Errorf(codes.InvalidArgument, "listen_address: %v", err)
	}
	if a.Zone() != "" {
		return netip.Addr{}, status.Errorf(codes.InvalidArgument, "listen_address %s: zones are not supported", s)
	}
	return a.Unmap(), nil
}

package daemon

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/hostd-windows/backend"
	"github.com/wslfwd/wslfwd/hostd-windows/policy"
	"github.com/wslfwd/wslfwd/hostd-windows/statics"
	"github.com/wslfwd/wslfwd/internal/version"
)

// GetStatus reports the daemon's version, setup, counts and problems.
func (d *Daemon) GetStatus(ctx context.Context, _ *wslfwdv1.GetStatusRequest) (*wslfwdv1.GetStatusResponse, error) {
	resp := &wslfwdv1.GetStatusResponse{
		Version:       version.Version,
		StartedAt:     timestamppb.New(d.startedAt),
		Backend:       d.opts.Backend.Name(),
		ExposeAddress: d.opts.ExposeAddr.String(),
		Os:            runtime.GOOS,
	}
	listen := d.opts.ListenAddrs
	if d.opts.MovingListenAddrs != nil {
		listen = append(slices.Clip(listen), d.opts.MovingListenAddrs()...)
	}
	for _, a := range listen {
		resp.ListenAddresses = append(resp.ListenAddresses, a.String())
	}
	resp.AgentsConnected = uint32(len(d.reg.Distros(true)))

	d.mu.Lock()
	counts := make(map[wslfwdv1.ForwardState]uint32)
	for _, r := range d.table {
		counts[r.fwd.GetState()]++
	}
	runErr := d.runErr
	d.mu.Unlock()
	for s := range wslfwdv1.ForwardState_name {
		st := wslfwdv1.ForwardState(s)
		if n := counts[st]; n > 0 {
			resp.ForwardsByState = append(resp.ForwardsByState, &wslfwdv1.StateCount{State: st, Count: n})
		}
	}
	slices.SortFunc(resp.ForwardsByState, func(a, b *wslfwdv1.StateCount) int { return int(a.GetState()) - int(b.GetState()) })

	if err := d.stateDirWritable(); err != nil {
		resp.Problems = append(resp.Problems, &wslfwdv1.Problem{
			Code:    "state-dir-unwritable",
			Message: fmt.Sprintf("the state directory cannot be written: %v", err),
			Hint:    "make the directory writable by the daemon's account, or pass another --state-dir",
		})
	}
	if runErr != nil {
		resp.Problems = append(resp.Problems, &wslfwdv1.Problem{
			Code:    "backend-error",
			Message: fmt.Sprintf("the %s backend failed: %v", d.opts.Backend.Name(), runErr),
			Hint:    "see the daemon's log; forwards are retried on the next change",
		})
	}
	if p := d.fw; p != nil {
		p.refresh(ctx)
		if pr := p.problem(); pr != nil {
			resp.Problems = append(resp.Problems, pr)
		}
	}
	if d.opts.Problems != nil {
		resp.Problems = append(resp.Problems, d.opts.Problems(ctx)...)
	}
	return resp, nil
}

// stateDirWritable probes the state directory. A good result is reused
// for writableEvery: GetStatus needs only a read token, and its callers
// must not be able to make the daemon write and sync at will. A failed
// probe writes nothing, so a failing directory is probed on every call
// and its recovery shows at once.
func (d *Daemon) stateDirWritable() error {
	d.writable.Lock()
	defer d.writable.Unlock()
	if now := time.Now(); d.writable.err != nil || now.Sub(d.writable.at) >= writableEvery {
		d.writable.err, d.writable.at = checkWritable(d.opts.StateDir), now
	}
	return d.writable.err
}

// writableEvery bounds how often GetStatus probes the state directory.
const writableEvery = 2 * time.Second

// checkWritable writes, syncs and removes a file in dir.
func checkWritable(dir string) error {
	if dir == "" {
		return nil
	}
	f, err := os.CreateTemp(dir, ".probe-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	// Creating an empty file succeeds on a full file system: write a
	// ledger-sized block and sync it, as a ledger write would.
	_, err = f.Write(make([]byte, 4096))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// ListAgents lists connected agents and those in their grace period.
func (d *Daemon) ListAgents(context.Context, *wslfwdv1.ListAgentsRequest) (*wslfwdv1.ListAgentsResponse, error) {
	return &wslfwdv1.ListAgentsResponse{Agents: d.reg.Agents(), Refusals: d.reg.Refusals()}, nil
}

// ListForwards lists forwards policy wants; with all, also the listeners
// and static forwards it does not (blocked, direct, conflicting).
func (d *Daemon) ListForwards(_ context.Context, req *wslfwdv1.ListForwardsRequest) (*wslfwdv1.ListForwardsResponse, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	resp := &wslfwdv1.ListForwardsResponse{}
	for _, r := range sortedRows(d.table) {
		if r.wanted || req.GetAll() {
			resp.Forwards = append(resp.Forwards, r.fwd)
		}
	}
	return resp, nil
}

// protocolOf maps a request's protocol, TCP when unset.
func protocolOf(p wslfwdv1.Protocol) (backend.Protocol, error) {
	switch p {
	case wslfwdv1.Protocol_PROTOCOL_UNSPECIFIED, wslfwdv1.Protocol_PROTOCOL_TCP:
		return backend.TCP, nil
	case wslfwdv1.Protocol_PROTOCOL_UDP:
		return backend.UDP, nil
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

// Expose pins a static forward and returns it after a run of the engine.
// A request for a forward that can never exist is refused with
// InvalidArgument and saves nothing (checkHostSide says which).
func (d *Daemon) Expose(ctx context.Context, req *wslfwdv1.ExposeRequest) (*wslfwdv1.ExposeResponse, error) {
	p, err := protocolOf(req.GetProtocol())
	if err != nil {
		return nil, err
	}
	if req.GetPort() < 1 || req.GetPort() > 65535 {
		return nil, status.Errorf(codes.InvalidArgument, "port %d out of range 1-65535", req.GetPort())
	}
	hostPort := req.GetHostPort()
	if hostPort == 0 {
		hostPort = req.GetPort()
	}
	if hostPort > 65535 {
		return nil, status.Errorf(codes.InvalidArgument, "host_port %d out of range 1-65535", hostPort)
	}
	listen, err := parseListen(req.GetListenAddress())
	if err != nil {
		return nil, err
	}
	if err := d.checkHostSide(listen, uint16(hostPort)); err != nil {
		return nil, err
	}
	distro, err := d.pickDistro(req.GetDistro(), false)
	if err != nil {
		return nil, err
	}
	st := policy.Static{
		Protocol:   p,
		Port:       uint16(req.GetPort()),
		Distro:     distro,
		HostPort:   uint16(hostPort),
		ListenAddr: listen,
		Origin:     wslfwdv1.ForwardOrigin_FORWARD_ORIGIN_STATIC,
	}
	if err := d.opts.Statics.Add(st); err != nil {
		return nil, staticsError("expose", err)
	}
	d.log.Info("static forward added", "protocol", p, "port", st.Port, "distro", distro, "host_port", st.HostPort, "listen", listen)
	if err := d.waitRun(ctx); err != nil {
		return nil, waitError(err)
	}
	if f := d.staticRow(st); f != nil {
		return &wslfwdv1.ExposeResponse{Forward: f}, nil
	}
	return nil, status.Error(codes.Internal, "static forward saved but missing from the forwards table")
}

// checkHostSide refuses, with InvalidArgument, a host side no forward can
// ever have: a listen address that is not one of the host's (nothing
// could listen there; a broadcast address even "works" on some stacks),
// the daemon's own port, or a port the deny list blocks. Policy would
// only mark such a forward BLOCKED; saving it would keep a promise the
// daemon cannot keep. listen's zero value is the expose address, which
// the config already checked.
func (d *Daemon) checkHostSide(listen netip.Addr, hostPort uint16) error {
	if host := cmp.Or(listen, d.opts.ExposeAddr); host.IsLoopback() && d.opts.Backend.Name() == "portproxy" {
		return status.Errorf(codes.InvalidArgument,
			"portproxy cannot listen on %s: a loopback entry loops back into portproxy and collides with WSL's own localhost relay; use the LAN address or 0.0.0.0", host)
	}
	if listen.IsValid() {
		if err := checkListenAddr(listen, net.InterfaceAddrs); err != nil {
			return status.Errorf(codes.InvalidArgument, "listen_address %s: %v", listen, err)
		}
	}
	if slices.Contains(d.reservedPorts(), hostPort) {
		return status.Errorf(codes.InvalidArgument, "host port %d is the daemon's own port: pick another host port", hostPort)
	}
	if d.opts.Config.Denied(hostPort) {
		return status.Errorf(codes.InvalidArgument, "host port %d is in the daemon's deny list (deny_ports): pick another host port", hostPort)
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

// Unexpose removes a static forward made by Expose. It checks the
// request's form only, not checkHostSide: a static saved before those
// checks existed, or whose address the host has since lost, must stay
// removable.
func (d *Daemon) Unexpose(ctx context.Context, req *wslfwdv1.UnexposeRequest) (*wslfwdv1.UnexposeResponse, error) {
	p, err := protocolOf(req.GetProtocol())
	if err != nil {
		return nil, err
	}
	if req.GetHostPort() < 1 || req.GetHostPort() > 65535 {
		return nil, status.Errorf(codes.InvalidArgument, "host_port %d out of range 1-65535", req.GetHostPort())
	}
	listen, err := parseListen(req.GetListenAddress())
	if err != nil {
		return nil, err
	}
	st, err := d.opts.Statics.Remove(p, netip.AddrPortFrom(listen, uint16(req.GetHostPort())))
	if err != nil {
		return nil, staticsError("unexpose", err)
	}
	f := d.staticRow(st)
	if f == nil {
		f = d.staticForward(st)
	}
	d.log.Info("static forward removed", "protocol", p, "host_port", req.GetHostPort(), "listen", listen)
	if err := d.waitRun(ctx); err != nil {
		return nil, waitError(err)
	}
	return &wslfwdv1.UnexposeResponse{Forward: f}, nil
}

// staticForward describes a static forward that is not in the table.
func (d *Daemon) staticForward(st policy.Static) *wslfwdv1.Forward {
	listen := st.ListenAddr
	if !listen.IsValid() {
		listen = d.opts.ExposeAddr
	}
	return &wslfwdv1.Forward{
		Protocol:      protoOf(st.Protocol),
		ListenAddress: listen.String(),
		ListenPort:    uint32(st.HostPort),
		ConnectPort:   uint32(st.Port),
		Distro:        st.Distro,
		Origin:        st.Origin,
	}
}

// staticRow finds the table's row for a static forward.
func (d *Daemon) staticRow(st policy.Static) *wslfwdv1.Forward {
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
func (d *Daemon) pickDistro(distro string, connectedOnly bool) (string, error) {
	known := d.reg.Distros(connectedOnly)
	if distro != "" {
		if !slices.Contains(known, distro) {
			return "", status.Errorf(codes.NotFound, "no agent of distro %q is known (known: %v)", distro, known)
		}
		return distro, nil
	}
	switch len(known) {
	case 0:
		return "", status.Error(codes.FailedPrecondition, "no agent is connected; name the distro once its agent runs")
	case 1:
		return known[0], nil
	}
	return "", status.Errorf(codes.InvalidArgument, "%d agents are known (%v): name the distro", len(known), known)
}

// staticsError maps a statics store error to a status.
func staticsError(op string, err error) error {
	switch {
	case errors.Is(err, statics.ErrExists):
		return status.Errorf(codes.AlreadyExists, "%s: %v", op, err)
	case errors.Is(err, statics.ErrNotFound):
		return status.Errorf(codes.NotFound, "%s: %v", op, err)
	case errors.Is(err, statics.ErrInvalid):
		return status.Errorf(codes.InvalidArgument, "%s: %v", op, err)
	}
	return status.Errorf(codes.Internal, "%s: %v", op, err)
}

// waitError maps a waitRun error to a status.
func waitError(err error) error {
	if _, ok := status.FromError(err); ok {
		return err
	}
	return status.FromContextError(err).Err()
}

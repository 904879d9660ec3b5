// Package policy decides, from what the agents report, the static forwards
// and the config, which forwards the daemon wants and why every other
// listener is not forwarded. It is pure: no I/O, no clock, the same input
// gives the same output in the same order.
//
// What each networking mode gets:
//
//   - nat: a listener on 0.0.0.0, on :: without IPV6_V6ONLY (it accepts
//     IPv4 too), or on one of the distro's own IPv4 addresses is wanted as
//     expose-address:port -> distro-address:port. The distro address is the
//     first IPv4 address the agent reported (agents list eth0's first); a
//     listener bound to another own address connects to that address.
//     With ipv6 = true each such forward also listens on [::]:port ([::1]
//     when the expose address is a loopback address), still connecting to
//     the distro's IPv4 address (portproxy v6tov4).
//   - nat, bound to 127.0.0.0/8 or ::1 only: blocked, the distro address
//     cannot reach it.
//   - nat, IPv6 only (:: with IPV6_V6ONLY, or a specific IPv6 address):
//     blocked while ipv6 = false. With ipv6 = true it is wanted as
//     [::]:port (as above) -> [distro IPv6]:port when the distro has an IPv6 address
//     that is not link-local (or the listener is bound to one), else
//     blocked: WSL's NAT usually gives the distro no IPv6 path from the host.
//   - mirrored, wsl1: direct, the distro shares the host's addresses.
//   - bridged, virtioproxy, none, unknown: blocked as unsupported.
//
// A listener the registry holds over its VM's cap of ports (Agent.Capped)
// is blocked before any of this, saying so.
//
// Then the rules, in this order, each naming itself in the reason: the
// distro is disabled; UDP is off (globally or for the distro); the backend
// cannot carry the protocol; remaps pick the host port; the host port is
// the daemon's own, in deny_ports, or (listeners only) not in allow_ports;
// the backend is portproxy and the host address is loopback. Windows' own
// localhost relay for WSL (wslrelay.exe) already holds 127.0.0.1:N and
// [::1]:N, and a portproxy entry there would shadow or fight it, so
// loopback exposure (an expose address of 127.0.0.1, or a static forward
// pinned to a loopback address) is refused with a reason instead.
//
// Static forwards (the config's [[forward]] tables and the statics store)
// follow the same rules except allow_ports: pinning one is explicit. Their
// port rules come first, since they need no agent: a denied static says
// so whether or not its agent is there. They need their distro's agent
// for the distro's address; without one they are blocked until it
// connects.
//
// The shared WSL2 namespace: every agent sees the same sockets, so a socket
// (protocol, address, port, inode) reported by several agents gets one
// decision, owned by the agent that sees its process (pid), else by the
// earliest connected agent, ties broken by the lower agent ID.
//
// One host key, two targets: wants are ranked (config forwards in config
// order, then static forwards in input order, then agents' listeners by the
// agents' connection time and ID), and the first takes the host port; a
// later want that overlaps it (same protocol and port, same address or
// either the any address of the family) with a different target is a
// CONFLICT naming the winner. A want identical to the winner's shares it.
package policy

import (
	"fmt"
	"net/netip"
	"slices"
	"time"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/hostd-windows/backend"
	"github.com/wslfwd/wslfwd/hostd-windows/config"
	"github.com/wslfwd/wslfwd/hostd-windows/wire"
	"github.com/wslfwd/wslfwd/internal/endpoint"
)

// Agent is one agent session as the policy sees it.
type Agent struct {
	ID     string
	Distro string
	Mode   wslfwdv1.NetworkingMode
	// Targets are the only addresses the agent's forwards may go to: in
	// NAT mode the address its connection comes from, verified by the
	// registry. The interfaces an agent reports are never targets.
	Targets   []netip.Addr
	Listeners []*wslfwdv1.Listener
	// Capped are those of Listeners on ports over the cap of the agent's
	// VM (agents.Options.MaxPortsPerSource): blocked, saying so.
	Capped []*wslfwdv1.Listener
	// Connected is false inside the grace period; such an agent's
	// listeners are still wanted.
	Connected   bool
	ConnectedAt time.Time
}

// Static is a static forward: pinned with Expose, or from the config.
type Static struct {
	Protocol   backend.Protocol
	Port       uint16 // port in the distro
	Distro     string
	HostPort   uint16     // 0 means Port
	ListenAddr netip.Addr // zero means the expose address
	Origin     wslfwdv1.ForwardOrigin
}

// Input is everything Decide looks at.
type Input struct {
	Agents []Agent
	// Statics are the statics store's forwards. The config's [[forward]]
	// tables are read from Config; do not add them here.
	Statics []Static
	// Config is the daemon's config; nil means config.Default().
	Config *config.Config
	// ExposeAddr is the IPv4 address forwards listen on; zero means the
	// config's expose_address.
	ExposeAddr netip.Addr
	// ReservedPorts are the daemon's own ports, never forwarded.
	ReservedPorts []uint16
	// Supports says which protocols the backend carries; nil means all.
	Supports func(backend.Protocol) bool
	// Backend is the backend's name (backend.Backend.Name); empty means
	// the config's backend. It decides whether loopback host addresses
	// are refused (portproxy).
	Backend string
	// PortCap is the cap of distinct ports per VM, named in the reason of
	// the listeners over it (Agent.Capped).
	PortCap int
	// Only, when set, limits Decide to the port groups it holds (keys are
	// Groups.Of of the config): the result is exactly the decisions of a
	// full Decide whose host port is in one of those groups. The engine
	// uses it to decide again only what a change touched.
	Only map[uint16]bool
}

// Decision is what became of one listener or static forward (a listener may
// have two: its IPv4 and its IPv6 exposure).
type Decision struct {
	Origin   wslfwdv1.ForwardOrigin
	Distro   string
	AgentID  string             // the owning agent; empty for statics
	Listener *wslfwdv1.Listener // nil for statics
	Static   *Static            // nil for listeners
	// Entry is the forward: set when Want, and whenever the host side is
	// known (rule-blocked, CONFLICT). Connect is zero when the target is
	// unknown (a static whose distro has no agent).
	Entry backend.Entry
	Want  bool
	// Carried is set on a decision whose forward an earlier one already
	// wants, to the same target (a static pinned over a listener's
	// forward): the forward is wanted once, and this decision is listed
	// with its state, as carried by the other.
	Carried bool
	// State is PENDING when Want or Carried, else BLOCKED, DIRECT or
	// CONFLICT.
	State  wslfwdv1.ForwardState
	Reason string
}

// Decide turns the input into decisions, sorted by protocol, host port and
// host address, then origin, distro, agent and listener.
func Decide(in Input) []Decision {
	cfg := in.Config
	if cfg == nil {
		cfg = config.Default()
	}
	d := decider{
		in:       in,
		cfg:      cfg,
		expose:   in.ExposeAddr,
		reserved: make(map[uint16]bool, len(in.ReservedPorts)),
		agents:   rankAgents(in.Agents),
	}
	if !d.expose.IsValid() {
		d.expose = cfg.Expose()
	}
	if !d.expose.IsValid() {
		d.expose = netip.IPv4Unspecified()
	}
	d.backend = in.Backend
	if d.backend == "" {
		d.backend = cfg.Backend
	}
	d.expose6 = netip.IPv6Unspecified()
	if d.expose.IsLoopback() {
		d.expose6 = netip.IPv6Loopback()
	}
	for _, p := range in.ReservedPorts {
		d.reserved[p] = true
	}
	if in.Only != nil {
		d.groups = NewGroups(cfg)
	}
	for _, a := range in.Agents {
		for _, l := range a.Capped {
			if d.capped == nil {
				d.capped = make(map[*wslfwdv1.Listener]bool)
			}
			d.capped[l] = true
		}
	}

	// Candidates in rank order: config forwards, statics, listeners.
	socks := d.sockets()
	out := make([]Decision, 0, len(cfg.Forwards)+len(in.Statics)+len(socks))
	for _, f := range cfg.Forwards {
		s := Static{f.Protocol, f.Port, f.Distro, f.HostPort, f.ListenAddress, wslfwdv1.ForwardOrigin_FORWARD_ORIGIN_CONFIG}
		if d.includes(s.hostPort()) {
			out = append(out, d.static(s)...)
		}
	}
	for _, s := range in.Statics {
		if d.includes(s.hostPort()) {
			out = append(out, d.static(s)...)
		}
	}
	for _, o := range socks {
		out = append(out, d.listener(o.agent, o.l)...)
	}
	resolveConflicts(out)
	slices.SortStableFunc(out, compareDecisions)
	return out
}

type decider struct {
	in       Input
	cfg      *config.Config
	expose   netip.Addr
	expose6  netip.Addr // IPv6 counterpart of expose: [::] or [::1]
	backend  string     // the backend's name
	reserved map[uint16]bool
	agents   []*Agent // by rank: ConnectedAt, then ID
	groups   Groups   // set when in.Only is
	capped   map[*wslfwdv1.Listener]bool
}

// includes reports whether a wish whose host port (or, for a listener,
// distro port: the same group) is port is to be decided.
func (d *decider) includes(port uint16) bool {
	return d.in.Only == nil || d.in.Only[d.groups.Of(port)]
}

// Reasons that do not depend on the input.
const (
	reasonDirect   = "shares the host's addresses; no forward needed"
	reasonNoIPv4   = "the agent connects from no IPv4 address, the only address it may forward to"
	reasonIPv6Off  = "IPv6 exposure is off (ipv6 = false)"
	reasonNoIPv6   = "the agent connects over IPv4, and NAT mode forwards only to the address it connects from"
	loopbackSuffix = " only: unreachable from the host through the distro address"
)

// unsupported says why a networking mode gets no forwards.
func unsupported(m wslfwdv1.NetworkingMode) string {
	why := "the agent could not detect the mode; pass it the mode explicitly"
	switch m {
	case wslfwdv1.NetworkingMode_NETWORKING_MODE_BRIDGED:
		why = "the distro has its own address on the host's network; connect to it directly"
	case wslfwdv1.NetworkingMode_NETWORKING_MODE_VIRTIOPROXY:
		why = "user-mode networking gives the host no address to forward to"
	case wslfwdv1.NetworkingMode_NETWORKING_MODE_NONE:
		why = "the distro has no network"
	}
	return fmt.Sprintf("networking mode %s is not supported: %s", endpoint.ModeName(m), why)
}

// byMode applies the mode table to listeners and statics alike: NAT goes
// on to forwarding (done is false); mirrored and WSL1 need no forward; any
// other mode is unsupported.
func byMode(base Decision, m wslfwdv1.NetworkingMode) (d Decision, done bool) {
	switch m {
	case wslfwdv1.NetworkingMode_NETWORKING_MODE_NAT:
		return Decision{}, false
	case wslfwdv1.NetworkingMode_NETWORKING_MODE_MIRRORED, wslfwdv1.NetworkingMode_NETWORKING_MODE_WSL1:
		return base.direct(), true
	}
	return base.blocked(unsupported(m)), true
}

// listener decides one listener of its owning agent.
func (d *decider) listener(a *Agent, l *wslfwdv1.Listener) []Decision {
	base := Decision{Origin: wslfwdv1.ForwardOrigin_FORWARD_ORIGIN_AGENT, Distro: a.Distro, AgentID: a.ID, Listener: l}
	p, ok := wire.ProtocolFromProto(l.GetProtocol())
	if !ok {
		return []Decision{base.blocked(fmt.Sprintf("invalid listener: protocol %s", l.GetProtocol()))}
	}
	if l.GetPort() < 1 || l.GetPort() > 65535 {
		return []Decision{base.blocked(fmt.Sprintf("invalid listener: port %d", l.GetPort()))}
	}
	port := uint16(l.GetPort())
	if d.capped[l] {
		// Before any other rule: past the cap, nothing of it counts.
		return []Decision{base.blocked(fmt.Sprintf("over the VM's cap: its agents already report %d other ports, the most one VM may have forwarded (max_listeners_per_agent); they keep their forwards, and this one is forwarded once one of them closes", d.in.PortCap))}
	}
	if dc, done := byMode(base, a.Mode); done {
		return []Decision{d.checkDirect(dc, p, port)}
	}
	addr, err := netip.ParseAddr(l.GetListen())
	if err != nil {
		return []Decision{base.blocked(fmt.Sprintf("invalid listener address %q", l.GetListen()))}
	}
	addr = addr.Unmap()
	v4any := addr.Is4() && addr.IsUnspecified() || addr.Is6() && addr.IsUnspecified() && !l.GetV6Only()
	switch {
	case addr.IsLoopback():
		return []Decision{base.blocked("bound to " + addr.String() + loopbackSuffix)}
	case v4any || addr.Is4():
		target := firstIPv4(a.Targets)
		if !v4any {
			if !slices.Contains(a.Targets, addr) {
				return []Decision{base.blocked(fmt.Sprintf("bound to %s, which is not the address the agent connects from", addr))}
			}
			target = addr
		}
		if !target.IsValid() {
			return []Decision{base.blocked(reasonNoIPv4)}
		}
		hp, blocked := d.rules(a.Distro, p, port)
		return d.forward4(base, p, port, hp, netip.Addr{}, target, blocked)
	default: // IPv6 only
		only := fmt.Sprintf("bound to IPv6 only (%s", addr)
		if addr.IsUnspecified() {
			only += " with IPV6_V6ONLY"
		}
		only += "): "
		if !d.cfg.IPv6 {
			return []Decision{base.blocked(only + reasonIPv6Off)}
		}
		target := addr.WithZone("")
		if addr.IsUnspecified() {
			target = firstIPv6(a.Targets)
		} else if !slices.Contains(a.Targets, target) {
			target = netip.Addr{}
		}
		if !target.IsValid() {
			return []Decision{base.blocked(only + reasonNoIPv6)}
		}
		hp, blocked := d.rules(a.Distro, p, port)
		e := backend.Entry{Protocol: p, Listen: netip.AddrPortFrom(d.expose6, hp), Connect: netip.AddrPortFrom(target, port)}
		return []Decision{d.want(base, e, blocked)}
	}
}

// checkDirect applies the port rules to a listener its mode made DIRECT: such a
// listener gets a firewall rule on its port, so a port the deny list, the
// allow list or the daemon's own port rules out stays closed, whatever the
// agent reports.
func (d *decider) checkDirect(dc Decision, p backend.Protocol, port uint16) Decision {
	if dc.State != wslfwdv1.ForwardState_FORWARD_STATE_DIRECT {
		return dc
	}
	if blocked := d.portRules(dc.Distro, p, port, true); blocked != "" {
		return dc.blocked(blocked)
	}
	return dc
}

// forward4 makes the decisions for a forward to an IPv4 target on host
// port hp: on listen, or, when listen is zero, on the expose address and
// also on [::] when ipv6 is on.
func (d *decider) forward4(base Decision, p backend.Protocol, port, hp uint16, listen, target netip.Addr, blocked string) []Decision {
	connect := netip.AddrPortFrom(target, port)
	if listen.IsValid() {
		return []Decision{d.want(base, backend.Entry{Protocol: p, Listen: netip.AddrPortFrom(listen, hp), Connect: connect}, blocked)}
	}
	out := []Decision{d.want(base, backend.Entry{Protocol: p, Listen: netip.AddrPortFrom(d.expose, hp), Connect: connect}, blocked)}
	if d.cfg.IPv6 {
		out = append(out, d.want(base, backend.Entry{Protocol: p, Listen: netip.AddrPortFrom(d.expose6, hp), Connect: connect}, blocked))
	}
	return out
}

// want wants e unless a rule blocked it or the backend cannot listen on
// e's host address.
func (d *decider) want(base Decision, e backend.Entry, blocked string) Decision {
	if blocked == "" && d.backend == config.BackendPortproxy && e.Listen.Addr().IsLoopback() {
		blocked = fmt.Sprintf("portproxy does not listen on loopback (%s): WSL's localhost relay serves it; expose on another address", e.Listen.Addr())
	}
	return base.want(e, blocked)
}

// rules applies the config's rules to a listener on distro port port and
// returns the host port and, when blocked, why.
func (d *decider) rules(distro string, p backend.Protocol, port uint16) (uint16, string) {
	hp, _ := d.cfg.HostPort(port, distro, p)
	return hp, d.hostRules(distro, p, hp, true)
}

// hostRules are the rules for a forward on host port hp: the port rules,
// and a backend that can carry the protocol.
func (d *decider) hostRules(distro string, p backend.Protocol, hp uint16, isListener bool) string {
	if why := d.portRules(distro, p, hp, isListener); why != "" {
		return why
	}
	return d.carries(p)
}

// carries says why the backend cannot carry protocol p, or "" when it can.
func (d *decider) carries(p backend.Protocol) string {
	if d.in.Supports != nil && !d.in.Supports(p) {
		return fmt.Sprintf("the backend cannot carry %s", p)
	}
	return ""
}

// portRules are the config's rules for host port hp, forwarded or opened
// in the firewall: distro enabled, UDP on, not the daemon's own port, not
// denied, and allowed (allow_ports applies to listeners, not statics).
func (d *decider) portRules(distro string, p backend.Protocol, hp uint16, isListener bool) string {
	if d.cfg.Distro(distro).Disabled {
		return fmt.Sprintf("distro %s is disabled in the config (enabled = false)", distro)
	}
	if p == backend.UDP {
		if ok, key := d.cfg.UDPFor(distro); !ok {
			return fmt.Sprintf("UDP forwarding is off (%s = false)", key)
		}
	}
	if d.reserved[hp] {
		return fmt.Sprintf("port %d is the daemon's own port", hp)
	}
	if d.cfg.Denied(hp) {
		return fmt.Sprintf("port %d is in the deny list (deny_ports)", hp)
	}
	if isListener && !d.cfg.Allowed(hp) {
		return fmt.Sprintf("port %d is not in the allow list (allow_ports)", hp)
	}
	return ""
}

// static decides one static forward.
func (d *decider) static(s Static) []Decision {
	base := Decision{Origin: s.Origin, Distro: s.Distro, Static: &s}
	hp := s.hostPort()
	listen := s.ListenAddr
	if !listen.IsValid() {
		listen = d.expose
	}
	base.Entry = backend.Entry{Protocol: s.Protocol, Listen: netip.AddrPortFrom(listen, hp)}
	if s.Protocol != backend.TCP && s.Protocol != backend.UDP || s.Port == 0 {
		return []Decision{base.blocked(fmt.Sprintf("invalid static forward: %s port %d", s.Protocol, s.Port))}
	}
	// The port rules need no agent: a denied port says so, not that the
	// distro has no agent, and stays blocked whatever the agent's mode.
	if why := d.portRules(s.Distro, s.Protocol, hp, false); why != "" {
		return []Decision{base.blocked(why)}
	}
	i := slices.IndexFunc(d.agents, func(a *Agent) bool { return a.Distro == s.Distro })
	if i < 0 {
		return []Decision{base.blocked(fmt.Sprintf("distro %s has no agent", s.Distro))}
	}
	a := d.agents[i]
	base.AgentID = a.ID
	if dc, done := byMode(base, a.Mode); done {
		if dc.State == wslfwdv1.ForwardState_FORWARD_STATE_DIRECT && hp != s.Port {
			// The firewall rule of a direct decision opens its own port:
			// that would be the host port, where nothing of the distro's
			// listens, while the distro's port stayed closed.
			return []Decision{base.blocked(fmt.Sprintf("%s mode shares the host's addresses: port %d is reachable as it is, and host port %d would need a forward, which this mode does not make", endpoint.ModeName(a.Mode), s.Port, hp))}
		}
		return []Decision{dc}
	}
	target := firstIPv4(a.Targets)
	if !target.IsValid() {
		return []Decision{base.blocked(reasonNoIPv4)}
	}
	return d.forward4(base, s.Protocol, s.Port, hp, s.ListenAddr, target, d.carries(s.Protocol))
}

// hostPort is the host port a static forward asks for.
func (s Static) hostPort() uint16 {
	if s.HostPort == 0 {
		return s.Port
	}
	return s.HostPort
}

func (b Decision) direct() Decision {
	b.State, b.Reason = wslfwdv1.ForwardState_FORWARD_STATE_DIRECT, reasonDirect
	return b
}

func (b Decision) blocked(reason string) Decision {
	b.State, b.Reason = wslfwdv1.ForwardState_FORWARD_STATE_BLOCKED, reason
	return b
}

// want wants e, unless a rule blocked it.
func (b Decision) want(e backend.Entry, blocked string) Decision {
	b.Entry = e
	if blocked != "" {
		return b.blocked(blocked)
	}
	b.Want, b.State = true, wslfwdv1.ForwardState_FORWARD_STATE_PENDING
	return b
}

// firstIPv4 and firstIPv6 pick the target of a family. Targets are verified
// by the registry (never loopback, link-local or unspecified outside tests).
func firstIPv4(targets []netip.Addr) netip.Addr {
	for _, a := range targets {
		if a.Is4() {
			return a
		}
	}
	return netip.Addr{}
}

func firstIPv6(targets []netip.Addr) netip.Addr {
	for _, a := range targets {
		if a.Is6() && !a.Is4In6() {
			return a
		}
	}
	return netip.Addr{}
}

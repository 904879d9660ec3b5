package agents

import (
	"fmt"
	"net/netip"
	"time"
	"unicode"
	"unicode/utf8"

	protobuf "google.golang.org/protobuf/proto"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/internal/netstate"
)

// Bounds on what an agent may send. They keep one misbehaving agent from
// growing the daemon without limit; the listener count is a separate,
// configurable limit.
const (
	maxDistroLen = 64
	maxTextLen   = 256
	maxFlags     = 32
)

// ValidateHello checks an AgentHello: a printable distro name of 1 to 64
// characters, a known networking mode, and bounded printable text fields.
func ValidateHello(h *wslfwdv1.AgentHello) error {
	if h == nil {
		return fmt.Errorf("hello is empty")
	}
	if err := checkText("distro", h.GetDistro(), maxDistroLen); err != nil {
		return err
	}
	if h.GetDistro() == "" {
		return fmt.Errorf("hello: distro is required")
	}
	m := h.GetNetworkingMode()
	if m == wslfwdv1.NetworkingMode_NETWORKING_MODE_UNSPECIFIED {
		return fmt.Errorf("hello: networking_mode is required")
	}
	if _, ok := wslfwdv1.NetworkingMode_name[int32(m)]; !ok {
		return fmt.Errorf("hello: unknown networking_mode %d", int32(m))
	}
	return checkTexts([]textField{
		{"agent_version", h.GetAgentVersion()},
		{"boot_id", h.GetBootId()},
		{"vm_id", h.GetVmId()},
		{"kernel_release", h.GetKernelRelease()},
		{"instance_id", h.GetInstanceId()},
	})
}

// textField is a field of agent text, named for errors.
type textField struct{ name, v string }

// checkTexts checks each of fs as checkText does, up to maxTextLen.
func checkTexts(fs []textField) error {
	for _, f := range fs {
		if err := checkText(f.name, f.v, maxTextLen); err != nil {
			return err
		}
	}
	return nil
}

// checkText rejects text that is too long, not UTF-8, or holds control
// characters: such text ends up in logs and CLI tables.
func checkText(field, s string, max int) error {
	if utf8.RuneCountInString(s) > max {
		return fmt.Errorf("%s is longer than %d characters", field, max)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%s is not valid UTF-8", field)
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return fmt.Errorf("%s contains a non-printable character %q", field, r)
		}
	}
	return nil
}

// ListenerKey identifies a listener within one agent's state: Changes
// remove listeners by protocol, address, port and inode.
type ListenerKey struct {
	Protocol wslfwdv1.Protocol
	Listen   netip.Addr
	Port     uint16
	Inode    uint64
}

// ValidateListener checks one listener and returns its key: a known
// protocol and family, a port from 1 to 65535, and a listen address that
// parses and matches the family.
func ValidateListener(l *wslfwdv1.Listener) (ListenerKey, error) {
	if l == nil {
		return ListenerKey{}, fmt.Errorf("listener is empty")
	}
	p := l.GetProtocol()
	if p != wslfwdv1.Protocol_PROTOCOL_TCP && p != wslfwdv1.Protocol_PROTOCOL_UDP {
		return ListenerKey{}, fmt.Errorf("listener %.64q port %d: invalid protocol %d", l.GetListen(), l.GetPort(), int32(p))
	}
	if l.GetPort() < 1 || l.GetPort() > 65535 {
		return ListenerKey{}, fmt.Errorf("listener %.64q: port %d out of range 1-65535", l.GetListen(), l.GetPort())
	}
	a, err := parseAddr(l.GetListen())
	if err != nil {
		return ListenerKey{}, fmt.Errorf("listener port %d: listen address: %w", l.GetPort(), err)
	}
	switch l.GetFamily() {
	case wslfwdv1.AddressFamily_ADDRESS_FAMILY_IPV4:
		if !a.Is4() {
			return ListenerKey{}, fmt.Errorf("listener %s port %d: family IPv4 but the address is not IPv4", l.GetListen(), l.GetPort())
		}
	case wslfwdv1.AddressFamily_ADDRESS_FAMILY_IPV6:
		if !a.Is6() {
			return ListenerKey{}, fmt.Errorf("listener %s port %d: family IPv6 but the address is not IPv6", l.GetListen(), l.GetPort())
		}
	default:
		return ListenerKey{}, fmt.Errorf("listener %s port %d: invalid address family %d", l.GetListen(), l.GetPort(), int32(l.GetFamily()))
	}
	if a.String() != l.GetListen() {
		// One address, one spelling: an agent writes what netip does, and
		// the daemon keys statuses by the text.
		return ListenerKey{}, fmt.Errorf("listener %.64q port %d: listen address not written as %s", l.GetListen(), l.GetPort(), a)
	}
	if len(l.GetProcessName()) > maxProcessName {
		return ListenerKey{}, fmt.Errorf("listener %s port %d: process_name is longer than %d bytes", l.GetListen(), l.GetPort(), maxProcessName)
	}
	if err := checkText("listener process_name", l.GetProcessName(), maxProcessName); err != nil {
		return ListenerKey{}, err
	}
	return ListenerKey{Protocol: p, Listen: a, Port: uint16(l.GetPort()), Inode: l.GetInode()}, nil
}

// ValidateNetwork checks a network state: bounded counts, printable text,
// addresses and prefixes that parse. The state is information for `wslfwd
// agents`; no forward target comes from it.
func ValidateNetwork(n *wslfwdv1.NetworkState) error {
	if n == nil {
		return fmt.Errorf("network state is missing")
	}
	if len(n.GetInterfaces()) > netstate.MaxInterfaces {
		return fmt.Errorf("network: %d interfaces, at most %d allowed", len(n.GetInterfaces()), netstate.MaxInterfaces)
	}
	if len(n.GetRoutes()) > netstate.MaxRoutes {
		return fmt.Errorf("network: %d routes, at most %d allowed", len(n.GetRoutes()), netstate.MaxRoutes)
	}
	if size := protobuf.Size(n); size > netstate.MaxBytes {
		return fmt.Errorf("network: %d bytes, at most %d allowed", size, netstate.MaxBytes)
	}
	for _, ifc := range n.GetInterfaces() {
		if err := validateInterface(ifc); err != nil {
			return err
		}
	}
	for _, rt := range n.GetRoutes() {
		if err := validateRoute(rt); err != nil {
			return err
		}
	}
	return nil
}

func validateInterface(ifc *wslfwdv1.Interface) error {
	name := ifc.GetName()
	if err := checkText("interface name", name, maxTextLen); err != nil {
		return err
	}
	if err := checkText("interface "+name+" hardware_address", ifc.GetHardwareAddress(), maxTextLen); err != nil {
		return err
	}
	if err := checkText("interface "+name+" oper_state", ifc.GetOperState(), maxTextLen); err != nil {
		return err
	}
	if len(ifc.GetFlags()) > maxFlags {
		return fmt.Errorf("interface %s: %d flags, at most %d allowed", name, len(ifc.GetFlags()), maxFlags)
	}
	for _, f := range ifc.GetFlags() {
		if err := checkText("interface "+name+" flag", f, maxTextLen); err != nil {
			return err
		}
	}
	if len(ifc.GetAddresses()) > netstate.MaxAddrsPerIface {
		return fmt.Errorf("interface %s: %d addresses, at most %d allowed", name, len(ifc.GetAddresses()), netstate.MaxAddrsPerIface)
	}
	for _, ia := range ifc.GetAddresses() {
		a, err := parseAddr(ia.GetAddress())
		switch {
		case err != nil:
			return fmt.Errorf("interface %s: address: %w", name, err)
		case a.Is4In6():
			return fmt.Errorf("interface %s: address %s: IPv4-mapped addresses are not interface addresses", name, a)
		case a.IsUnspecified():
			return fmt.Errorf("interface %s: address %s is unspecified", name, a)
		case int(ia.GetPrefixLength()) > a.BitLen():
			return fmt.Errorf("interface %s: address %s: prefix length %d longer than %d", name, a, ia.GetPrefixLength(), a.BitLen())
		}
	}
	return nil
}

func validateRoute(rt *wslfwdv1.Route) error {
	if f := rt.GetFamily(); f != wslfwdv1.AddressFamily_ADDRESS_FAMILY_IPV4 && f != wslfwdv1.AddressFamily_ADDRESS_FAMILY_IPV6 {
		return fmt.Errorf("route %.64q: invalid address family %d", rt.GetDestination(), int32(f))
	}
	if _, err := netip.ParsePrefix(rt.GetDestination()); err != nil {
		return fmt.Errorf("route destination %.64q is not a prefix", rt.GetDestination()) // netip's error quotes it whole
	}
	if gw := rt.GetGateway(); gw != "" {
		if _, err := parseAddr(gw); err != nil {
			return fmt.Errorf("route %s gateway: %w", rt.GetDestination(), err)
		}
	}
	return checkText("route interface_name", rt.GetInterfaceName(), maxTextLen)
}

// parseAddr parses an address an agent reports, which names no zone: the
// agent reads addresses from the kernel without one, and netip.ParseAddr
// would take a zone of any length and any characters, which the daemon
// would then keep and show.
func parseAddr(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, err
	}
	if a.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("%.64q: an address with a zone", s)
	}
	return a, nil
}

// ValidateEchoReady checks an agent's answer to an echo start: its text
// goes to the CLI that asked for the probe.
func ValidateEchoReady(r *wslfwdv1.EchoReady) error {
	texts := []textField{
		{"probe_id", r.GetProbeId()},
		{"listen", r.GetListen()},
		{"error", r.GetError()},
	}
	if p := r.GetWslToHost(); p != nil {
		texts = append(texts,
			textField{"wsl_to_host name", p.GetName()},
			textField{"wsl_to_host from", p.GetFrom()},
			textField{"wsl_to_host to", p.GetTo()},
			textField{"wsl_to_host error", p.GetError()})
		if l := p.GetLatency(); l != nil {
			// The agent's own word, shown as is: a duration protobuf
			// cannot hold would make `wslfwd probe -o json` fail.
			if err := l.CheckValid(); err != nil || l.AsDuration() < 0 || l.AsDuration() > maxProbeLatency {
				return fmt.Errorf("wsl_to_host latency %v is not a time from 0 to %v", l, maxProbeLatency)
			}
		}
	}
	return checkTexts(texts)
}

// maxProbeLatency bounds the latency an agent may report for its probe of
// the host, far above the probe's own timeout.
const maxProbeLatency = time.Minute

// String names the listener k stands for, as refusals quote it.
func (k ListenerKey) String() string {
	return fmt.Sprintf("%s %s port %d (socket %d)", proto(k.Protocol), k.Listen, k.Port, k.Inode)
}

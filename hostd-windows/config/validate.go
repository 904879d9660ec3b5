package config

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"time"

	"github.com/wslfwd/wslfwd/hostd-windows/backend"
)

// portproxyLoopback says why backend "portproxy" refuses a loopback host
// address: WSL's own localhost relay (wslrelay.exe) holds 127.0.0.1:N and
// [::1]:N, and a portproxy entry there would shadow or fight it.
const portproxyLoopback = `portproxy does not listen on loopback (WSL's localhost relay serves it); use 0.0.0.0 or another host address, or backend = "relay"`

// kernelLoopback says why backend "kernel" refuses a loopback host
// address: a packet from loopback rewritten towards another machine is
// dropped unless route_localnet is on, which exposes loopback services to
// the LAN (see backend/kernel).
const kernelLoopback = `kernel forwards do not serve loopback clients; use 0.0.0.0 or another host address, or backend = "relay"`

// loopbackRefusal is why the backend cannot listen on loopback, or "".
func loopbackRefusal(backendName string) string {
	switch backendName {
	case BackendPortproxy:
		return portproxyLoopback
	case BackendKernel:
		return kernelLoopback
	}
	return ""
}

// Validate checks every value. The error lists every problem, each naming
// its key; Load adds the file and line.
func (c *Config) Validate() error {
	var v errList
	for i, l := range c.Listen {
		if err := checkListen(l); err != nil {
			v.add(index("listen", i), "%v", err)
		}
	}
	if _, err := parseMetricsListen(c.MetricsListen); err != nil {
		v.add("metrics_listen", "%v", err)
	}
	if a, err := netip.ParseAddr(c.ExposeAddress); err != nil {
		v.add("expose_address", "%q is not an IP address", c.ExposeAddress)
	} else if !a.Is4() {
		v.add("expose_address", "%s is not an IPv4 address (IPv6 exposure uses [::] when ipv6 = true)", a)
	} else if why := loopbackRefusal(c.Backend); why != "" && a.IsLoopback() {
		v.add("expose_address", "%s: %s", a, why)
	}
	switch c.Backend {
	case "", BackendRelay, BackendPortproxy, BackendKernel:
	default:
		v.add("backend", "%q is not %q, %q or %q", c.Backend, BackendRelay, BackendPortproxy, BackendKernel)
	}
	if c.Grace < 0 || c.Grace > maxGrace {
		v.add("grace", "%v out of range 0-%v", c.Grace, maxGrace)
	}
	for i, r := range c.DenyPorts {
		checkRange(&v, index("deny_ports", i), r)
	}
	for i, r := range c.AllowPorts {
		checkRange(&v, index("allow_ports", i), r)
	}
	c.validateProfiles(&v)
	c.validateRemaps(&v)
	for name := range c.Distros {
		if name == "" {
			v.add("distros", "empty distro name")
		}
	}
	c.validateForwards(&v)
	checkLimit(&v, "max_listeners_per_agent", c.MaxListenersPerAgent, maxListenersLimit)
	checkLimit(&v, "max_agents", c.MaxAgents, maxAgentsLimit)
	checkLimit(&v, "relay_max_clients", c.RelayMaxClients, maxRelayClientsLimit)
	checkLimit(&v, "relay_max_per_forward", c.RelayMaxPerForward, c.RelayMaxClients)
	return v.err()
}

// validateProfiles wants at least one known profile, each once: an empty
// list would make rules that apply nowhere, which reads as on but is off.
func (c *Config) validateProfiles(v *errList) {
	if len(c.FirewallProfiles) == 0 {
		v.add("firewall_profiles", "empty: name at least one of %q, %q, %q (or set firewall = false)", ProfilePrivate, ProfileDomain, ProfilePublic)
	}
	seen := map[string]bool{}
	for i, p := range c.FirewallProfiles {
		switch {
		case p != ProfilePrivate && p != ProfileDomain && p != ProfilePublic:
			v.add(index("firewall_profiles", i), "%q is not %q, %q or %q", p, ProfilePrivate, ProfileDomain, ProfilePublic)
		case seen[p]:
			v.add(index("firewall_profiles", i), "%q named twice", p)
		}
		seen[p] = true
	}
}

func (c *Config) validateRemaps(v *errList) {
	type match struct {
		port   uint16
		distro string
		p      backend.Protocol
	}
	seen := map[match]int{}
	for i, r := range c.Remaps {
		k := index("remap", i)
		checkPort(v, k+".port", int64(r.Port))
		checkPort(v, k+".host_port", int64(r.HostPort))
		checkProtocol(v, k+".protocol", r.Protocol, true)
		m := match{r.Port, r.Distro, r.Protocol}
		if j, dup := seen[m]; dup {
			v.add(k, "remaps the same port, distro and protocol as remap[%d]", j)
		}
		seen[m] = i
	}
}

func (c *Config) validateForwards(v *errList) {
	type hostKey struct {
		p      backend.Protocol
		listen netip.AddrPort
	}
	seen := map[hostKey]int{}
	for i, f := range c.Forwards {
		k := index("forward", i)
		checkProtocol(v, k+".protocol", f.Protocol, false)
		checkPort(v, k+".port", int64(f.Port))
		if f.Distro == "" {
			v.add(k+".distro", "missing: name the distro to forward to")
		}
		if a := f.ListenAddress; a.IsValid() && (a.Zone() != "" || a.IsMulticast() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255})) {
			v.add(k+".listen_address", "%s cannot be listened on", a)
		} else if why := loopbackRefusal(c.Backend); why != "" && a.IsLoopback() {
			v.add(k+".listen_address", "%s: %s", a, why)
		}
		hp := f.HostPort
		if hp == 0 {
			hp = f.Port
		}
		hk := hostKey{f.Protocol, netip.AddrPortFrom(f.ListenAddress, hp)}
		if j, dup := seen[hk]; dup {
			v.add(k, "same protocol, host address and host port as forward[%d]", j)
		}
		seen[hk] = i
	}
}

func checkListen(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("%q is not host:port: %w", s, err)
	}
	if _, err := netip.ParseAddr(host); err != nil {
		return fmt.Errorf("%q: host must be an IP address", s)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("%q: port out of range 1-65535", s)
	}
	return nil
}

// parseMetricsListen parses metrics_listen: empty (off, the zero
// AddrPort), or a loopback address or "localhost" with a port.
func parseMetricsListen(s string) (netip.AddrPort, error) {
	if s == "" {
		return netip.AddrPort{}, nil
	}
	ip := s
	if host, port, err := net.SplitHostPort(s); err == nil && host == "localhost" {
		ip = net.JoinHostPort("127.0.0.1", port)
	}
	if err := checkListen(ip); err != nil {
		return netip.AddrPort{}, err
	}
	a := netip.MustParseAddrPort(ip)
	if !a.Addr().Unmap().IsLoopback() {
		return netip.AddrPort{}, fmt.Errorf("%q: only loopback (127.0.0.1, [::1], localhost) may serve metrics: the endpoint has no token", s)
	}
	return netip.AddrPortFrom(a.Addr().Unmap(), a.Port()), nil
}

func checkRange(v *errList, key string, r PortRange) {
	if r.First == 0 || r.Last == 0 {
		v.add(key, "port 0 out of range 1-65535")
	} else if r.First > r.Last {
		v.add(key, "range %d-%d is backwards", r.First, r.Last)
	}
}

func checkPort(v *errList, key string, p int64) bool {
	if p < 1 || p > 65535 {
		v.add(key, "port %d out of range 1-65535", p)
		return false
	}
	return true
}

// Upper bounds of the limits, each far above any real use and below
// what would switch the limit off: the daemon holds every agent's
// listeners, and bounds each message by what an agent at the limit needs
// (agents.MaxMessageSize: about 9 MiB at this one); an agent away
// longer than a week is gone.
const (
	maxListenersLimit = 32768
	maxAgentsLimit    = 1024
	// Every client the relay carries holds a port of the host's, and
	// Windows has 16,384 for all its programs' outbound connections.
	maxRelayClientsLimit = 8192
	maxGrace             = 7 * 24 * time.Hour
)

func checkLimit(v *errList, key string, n, max int) {
	if n < 1 || n > max {
		v.add(key, "%d out of range 1-%d", n, max)
	}
}

func checkProtocol(v *errList, key string, p backend.Protocol, emptyOK bool) {
	if p == backend.TCP || p == backend.UDP || (emptyOK && p == "") {
		return
	}
	v.add(key, "%q is not \"tcp\" or \"udp\"", p)
}

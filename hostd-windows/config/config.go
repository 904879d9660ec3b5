// Package config is the daemon's configuration: defaults, the TOML file
// (see example.toml, which documents every key), and validation.
//
// Command-line flags override the file. The daemon's main does that by
// loading the file (or taking Default when there is none), assigning each
// flag the user set (cobra's Flags().Changed) to its field, and calling
// Validate once more, so a bad flag value is reported like a bad key.
package config

import (
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/wslfwd/wslfwd/hostd-windows/backend"
)

// Backend names.
const (
	BackendRelay     = "relay"
	BackendPortproxy = "portproxy"
)

// Config is the daemon's configuration. The zero value is not useful: start
// from Default or Load.
type Config struct {
	// Listen are the gRPC server's host:port addresses. Empty: the
	// platform default (the WSL adapter's address and 127.0.0.1 on
	// Windows), chosen by main.
	Listen []string
	// ExposeAddress is the IPv4 host address forwards listen on.
	ExposeAddress string
	// Backend is "relay" or "portproxy"; empty: the platform default.
	Backend string
	// StateDir holds the ledger and the static forwards; empty: the
	// platform default.
	StateDir string
	// TokenFile holds the bearer token for every RPC; empty:
	// <state dir>/token (see TokenPath).
	TokenFile string
	// ReadTokenFile, if set, holds a second token that is good for the
	// CLI's read-only calls only.
	ReadTokenFile string
	// AgentTokenFile, if set, holds the token agents must present instead
	// of the main token.
	AgentTokenFile string
	// LogFile, if set, is where the daemon logs instead of stderr, rotated
	// by size (package logfile). The Windows service defaults it to the
	// state directory's wslfwd-hostd.log.
	LogFile string
	// Grace is how long a gone agent's forwards stay up, and how long a
	// restarted daemon holds the forwards it owns for their agents.
	Grace time.Duration
	// UDP enables forwarding UDP listeners.
	UDP bool
	// IPv6 also exposes forwards on the host's IPv6 any address.
	IPv6 bool
	// Firewall makes the daemon manage inbound firewall rules, so LAN
	// clients reach the forwards: on by default, since without them
	// Windows Firewall blocks every LAN client and forwarding to the LAN
	// is the point.
	Firewall bool
	// FirewallProfiles are the firewall profiles the rules apply in:
	// "private" and "domain" by default, never "public" unless asked, so
	// a laptop on café Wi-Fi (the Public profile) exposes nothing.
	FirewallProfiles []string
	// DenyPorts are host ports never forwarded.
	DenyPorts []PortRange
	// AllowPorts, if not empty, are the only host ports listeners are
	// forwarded on (static forwards are explicit and exempt).
	AllowPorts []PortRange
	// Remaps move a distro port to another host port.
	Remaps []Remap
	// Distros holds per-distro settings by distro name.
	Distros map[string]DistroConfig
	// Forwards are static forwards from the config file.
	Forwards []StaticForward
	// MaxListenersPerAgent bounds the listeners one agent may report.
	MaxListenersPerAgent int
	// MaxAgents bounds the agents connected at once.
	MaxAgents int
}

// PortRange is an inclusive range of ports; a single port has First == Last.
type PortRange struct {
	First, Last uint16
}

// Contains reports whether p lies in the range.
func (r PortRange) Contains(p uint16) bool { return r.First <= p && p <= r.Last }

// String renders "80" or "8000-8100".
func (r PortRange) String() string {
	if r.First == r.Last {
		return strconv.Itoa(int(r.First))
	}
	return fmt.Sprintf("%d-%d", r.First, r.Last)
}

// Remap forwards a distro port on another host port.
type Remap struct {
	Port     uint16           // port in the distro
	HostPort uint16           // port on the host
	Distro   string           // only this distro; empty: any
	Protocol backend.Protocol // only this protocol; empty: both
}

// DistroConfig is the per-distro part of the config.
type DistroConfig struct {
	// Disabled: nothing of the distro is forwarded (TOML: enabled = false).
	// Named so the zero value is the default.
	Disabled bool
	// UDP overrides the global UDP setting for the distro; nil follows it.
	UDP *bool
}

// StaticForward is a forward from the config file's [[forward]] tables.
type StaticForward struct {
	Protocol      backend.Protocol
	Port          uint16     // port in the distro
	Distro        string     // distro to forward to
	HostPort      uint16     // host port; 0 means Port
	ListenAddress netip.Addr // host address; zero means the expose address
}

// DefaultGrace keeps forwards through an agent restart.
const DefaultGrace = 30 * time.Second

// DefaultDenyPorts are Windows and WSL/Hyper-V service ports: forwarding
// them would hand a host service's port to a distro, or expose a distro's
// copy of a host-management service. example.toml says why each.
var DefaultDenyPorts = []PortRange{
	{135, 135}, {139, 139}, {445, 445}, {2179, 2179},
	{3389, 3389}, {5985, 5986}, {47001, 47001},
}

// Firewall profiles, as netsh and PowerShell name them (lower case here).
const (
	ProfilePrivate = "private"
	ProfileDomain  = "domain"
	ProfilePublic  = "public"
)

// DefaultFirewallProfiles are the profiles forward rules apply in unless
// firewall_profiles says otherwise: the networks a user has called
// trusted (Private) or that a domain manages, not Public.
var DefaultFirewallProfiles = []string{ProfilePrivate, ProfileDomain}

// Default returns the configuration used when no file is given.
func Default() *Config {
	return &Config{
		ExposeAddress:        "0.0.0.0",
		Grace:                DefaultGrace,
		UDP:                  true,
		Firewall:             true,
		FirewallProfiles:     slices.Clone(DefaultFirewallProfiles),
		DenyPorts:            slices.Clone(DefaultDenyPorts),
		Distros:              map[string]DistroConfig{},
		MaxListenersPerAgent: 4096,
		MaxAgents:            64,
	}
}

// Expose returns the parsed expose address; valid after Validate.
func (c *Config) Expose() netip.Addr {
	a, _ := netip.ParseAddr(c.ExposeAddress)
	return a
}

// TokenPath is the main token file: TokenFile, else <stateDir>/token.
func (c *Config) TokenPath(stateDir string) string {
	if c.TokenFile != "" {
		return c.TokenFile
	}
	return filepath.Join(stateDir, "token")
}

// Denied reports whether host port p is in the deny list.
func (c *Config) Denied(p uint16) bool { return inRanges(c.DenyPorts, p) }

// Allowed reports whether host port p passes the allow list (an empty
// allow list allows every port).
func (c *Config) Allowed(p uint16) bool {
	return len(c.AllowPorts) == 0 || inRanges(c.AllowPorts, p)
}

// Distro returns the settings of the named distro (defaults when absent).
func (c *Config) Distro(name string) DistroConfig {
	if d, ok := c.Distros[name]; ok {
		return d
	}
	return DistroConfig{}
}

// UDPFor reports whether UDP is forwarded for the distro, and the key that
// decided it when it is not.
func (c *Config) UDPFor(distro string) (ok bool, key string) {
	if !c.UDP {
		return false, "udp"
	}
	if u := c.Distro(distro).UDP; u != nil && !*u {
		return false, keyPath("distros", distro, "udp")
	}
	return true, ""
}

// HostPort returns the host port for a distro port after remaps: the first
// remap matching port, distro and protocol wins.
func (c *Config) HostPort(port uint16, distro string, p backend.Protocol) (uint16, bool) {
	for _, r := range c.Remaps {
		if r.Port == port && (r.Distro == "" || r.Distro == distro) && (r.Protocol == "" || r.Protocol == p) {
			return r.HostPort, true
		}
	}
	return port, false
}

func inRanges(rs []PortRange, p uint16) bool {
	for _, r := range rs {
		if r.Contains(p) {
			return true
		}
	}
	return false
}

// portproxyLoopback says why backend "portproxy" refuses a loopback host
// address: WSL's own localhost relay (wslrelay.exe) holds 127.0.0.1:N and
// [::1]:N, and a portproxy entry there would shadow or fight it.
const portproxyLoopback = `portproxy does not listen on loopback (WSL's localhost relay serves it); use 0.0.0.0 or another host address, or backend = "relay"`

// Validate checks every value. The error lists every problem, each naming
// its key; Load adds the file and line.
func (c *Config) Validate() error {
	var v errList
	for i, l := range c.Listen {
		if err := checkListen(l); err != nil {
			v.add(index("listen", i), "%v", err)
		}
	}
	if a, err := netip.ParseAddr(c.ExposeAddress); err != nil {
		v.add("expose_address", "%q is not an IP address", c.ExposeAddress)
	} else if !a.Is4() {
		v.add("expose_address", "%s is not an IPv4 address (IPv6 exposure uses [::] when ipv6 = true)", a)
	} else if c.Backend == BackendPortproxy && a.IsLoopback() {
		v.add("expose_address", "%s: %s", a, portproxyLoopback)
	}
	switch c.Backend {
	case "", BackendRelay, BackendPortproxy:
	default:
		v.add("backend", "%q is not %q or %q", c.Backend, BackendRelay, BackendPortproxy)
	}
	if c.Grace < 0 {
		v.add("grace", "%v is negative", c.Grace)
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
	if c.MaxListenersPerAgent < 1 {
		v.add("max_listeners_per_agent", "%d is less than 1", c.MaxListenersPerAgent)
	}
	if c.MaxAgents < 1 {
		v.add("max_agents", "%d is less than 1", c.MaxAgents)
	}
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
		if a := f.ListenAddress; a.IsValid() && (a.Zone() != "" || a.IsMulticast()) {
			v.add(k+".listen_address", "%s cannot be listened on", a)
		} else if c.Backend == BackendPortproxy && a.IsLoopback() {
			v.add(k+".listen_address", "%s: %s", a, portproxyLoopback)
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

func checkRange(v *errList, key string, r PortRange) {
	if r.First == 0 || r.Last == 0 {
		v.add(key, "port 0 out of range 1-65535")
	} else if r.First > r.Last {
		v.add(key, "range %d-%d is backwards", r.First, r.Last)
	}
}

func checkPort(v *errList, key string, p int64) {
	if p < 1 || p > 65535 {
		v.add(key, "port %d out of range 1-65535", p)
	}
}

func checkProtocol(v *errList, key string, p backend.Protocol, emptyOK bool) {
	if p == backend.TCP || p == backend.UDP || (emptyOK && p == "") {
		return
	}
	v.add(key, "%q is not \"tcp\" or \"udp\"", p)
}

// Package config is the daemon's configuration: defaults, the TOML file
// (see example.toml, which documents every key), and validation.
//
// Command-line flags override the file. The daemon's main does that by
// loading the file (or taking Default when there is none), assigning each
// flag the user set (cobra's Flags().Changed) to its field, and calling
// Validate once more, so a bad flag value is reported like a bad key.
//
// The files: config.go holds the types, defaults.go the defaults,
// validate.go the checks; file.go is the TOML form of Config with the key
// names as struct tags, decode.go decodes it with go-toml in strict mode,
// and load.go puts the steps together. positions.go finds the line of each
// key for errors.go's file:line: key: messages.
package config

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"strconv"
	"time"

	"github.com/wslfwd/wslfwd/hostd-windows/backend"
)

// Backend names.
const (
	BackendRelay     = "relay"
	BackendPortproxy = "portproxy"
	BackendKernel    = "kernel" // Linux: nftables DNAT rules (backend/kernel)
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
	// Backend is "relay", "portproxy" (Windows) or "kernel" (Linux); empty:
	// the platform default.
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
	// MetricsListen, if set, is the loopback host:port where the daemon
	// serves its figures to Prometheus (package metrics); empty: off.
	// Only loopback: the endpoint has no token (see MetricsAddr).
	MetricsListen string
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
	// MaxListenersPerAgent bounds the listeners one agent may report; the
	// welcome tells the agent, which keeps to it (session.stream.reported).
	// It also caps the distinct ports one VM's agents together may have
	// forwarded (agents.Options.MaxPortsPerSource).
	MaxListenersPerAgent int
	// MaxAgents bounds the agents connected at once.
	MaxAgents int
	// RelayMaxPerForward bounds the TCP connections, and the UDP flows,
	// one relay forward carries at once; RelayMaxClients both for all of
	// them together (relay.Options). Unused by the other backends.
	RelayMaxPerForward int
	RelayMaxClients    int
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

// Expose returns the parsed expose address; valid after Validate.
func (c *Config) Expose() netip.Addr {
	a, _ := netip.ParseAddr(c.ExposeAddress)
	return a
}

// MetricsAddr is where the metrics endpoint listens, from MetricsListen
// ("localhost" is 127.0.0.1, not looked up: a hosts file must not move
// the endpoint off loopback); ok is false when it is off. Valid after
// Validate.
func (c *Config) MetricsAddr() (addr netip.AddrPort, ok bool) {
	a, err := parseMetricsListen(c.MetricsListen)
	return a, err == nil && a.IsValid()
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

package config

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/wslfwd/wslfwd/hostd-windows/backend"
)

// file is the TOML form of Config, as example.toml writes it: the one place
// the keys are named. go-toml decodes it in strict mode, so a key not here is
// an error, and a value of the wrong TOML type is one too. Pointers tell an
// absent key, which keeps Config's default, from a zero value.
type file struct {
	Listen               *[]string             `toml:"listen"`
	ExposeAddress        *string               `toml:"expose_address"`
	Backend              *string               `toml:"backend"`
	StateDir             *string               `toml:"state_dir"`
	TokenFile            *string               `toml:"token_file"`
	ReadTokenFile        *string               `toml:"read_token_file"`
	AgentTokenFile       *string               `toml:"agent_token_file"`
	LogFile              *string               `toml:"log_file"`
	MetricsListen        *string               `toml:"metrics_listen"`
	Grace                *duration             `toml:"grace"`
	UDP                  *bool                 `toml:"udp"`
	IPv6                 *bool                 `toml:"ipv6"`
	Firewall             *bool                 `toml:"firewall"`
	FirewallProfiles     *[]string             `toml:"firewall_profiles"`
	DenyPorts            *[]portSpec           `toml:"deny_ports"`
	AllowPorts           *[]portSpec           `toml:"allow_ports"`
	Remaps               []fileRemap           `toml:"remap"`
	Distros              map[string]fileDistro `toml:"distros"`
	Forwards             []fileForward         `toml:"forward"`
	MaxListenersPerAgent *int                  `toml:"max_listeners_per_agent"`
	MaxAgents            *int                  `toml:"max_agents"`
	RelayMaxPerForward   *int                  `toml:"relay_max_per_forward"`
	RelayMaxClients      *int                  `toml:"relay_max_clients"`
}

type fileRemap struct {
	Port     *int   `toml:"port"`
	HostPort *int   `toml:"host_port"`
	Distro   string `toml:"distro"`
	Protocol string `toml:"protocol"`
}

type fileDistro struct {
	Enabled *bool `toml:"enabled"`
	UDP     *bool `toml:"udp"`
}

type fileForward struct {
	Protocol      *string    `toml:"protocol"` // absent: "tcp"
	Port          *int       `toml:"port"`
	Distro        string     `toml:"distro"`
	HostPort      *int       `toml:"host_port"`
	ListenAddress netip.Addr `toml:"listen_address"`
}

// portSpec is a port, 80, or a range written as a string, "8000-8100":
// an int64 or a string once decoded (checkTypes lets no other through).
type portSpec any

// duration is a Go duration written as a string: "30s", "2m". A struct,
// so that go-toml refuses an integer instead of taking it as nanoseconds.
type duration struct{ time.Duration }

func (d *duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("%q is not a duration like \"30s\" or \"2m\"", b)
	}
	d.Duration = v
	return nil
}

// apply sets on c every key f sets. It checks what Config's types cannot
// hold (ports past 65535, a missing port); Validate checks the rest.
func (f *file) apply(c *Config) error {
	var v errList
	set(&c.Listen, f.Listen)
	set(&c.ExposeAddress, f.ExposeAddress)
	set(&c.Backend, f.Backend)
	set(&c.StateDir, f.StateDir)
	set(&c.TokenFile, f.TokenFile)
	set(&c.ReadTokenFile, f.ReadTokenFile)
	set(&c.AgentTokenFile, f.AgentTokenFile)
	set(&c.LogFile, f.LogFile)
	set(&c.MetricsListen, f.MetricsListen)
	if f.Grace != nil {
		c.Grace = f.Grace.Duration
	}
	set(&c.UDP, f.UDP)
	set(&c.IPv6, f.IPv6)
	set(&c.Firewall, f.Firewall)
	set(&c.FirewallProfiles, f.FirewallProfiles)
	if f.DenyPorts != nil {
		c.DenyPorts = v.ranges("deny_ports", *f.DenyPorts)
	}
	if f.AllowPorts != nil {
		c.AllowPorts = v.ranges("allow_ports", *f.AllowPorts)
	}
	for i, r := range f.Remaps {
		c.Remaps = append(c.Remaps, r.remap(&v, index("remap", i)))
	}
	for name, d := range f.Distros {
		c.Distros[name] = DistroConfig{Disabled: d.Enabled != nil && !*d.Enabled, UDP: d.UDP}
	}
	for i, fw := range f.Forwards {
		c.Forwards = append(c.Forwards, fw.forward(&v, index("forward", i)))
	}
	set(&c.MaxListenersPerAgent, f.MaxListenersPerAgent)
	set(&c.MaxAgents, f.MaxAgents)
	set(&c.RelayMaxPerForward, f.RelayMaxPerForward)
	set(&c.RelayMaxClients, f.RelayMaxClients)
	return v.err()
}

// set assigns *src to *dst when the key was written.
func set[T any](dst, src *T) {
	if src != nil {
		*dst = *src
	}
}

func (r fileRemap) remap(v *errList, key string) Remap {
	return Remap{
		Port:     v.port(key, "port", r.Port),
		HostPort: v.port(key, "host_port", r.HostPort),
		Distro:   r.Distro,
		Protocol: backend.Protocol(strings.ToLower(r.Protocol)),
	}
}

func (f fileForward) forward(v *errList, key string) StaticForward {
	fw := StaticForward{
		Protocol:      backend.TCP,
		Port:          v.port(key, "port", f.Port),
		Distro:        f.Distro,
		ListenAddress: f.ListenAddress,
	}
	if f.Protocol != nil {
		fw.Protocol = backend.Protocol(strings.ToLower(*f.Protocol))
	}
	if f.HostPort != nil {
		fw.HostPort = v.port(key, "host_port", f.HostPort)
	}
	return fw
}

// port checks the port at table.name, which must be written.
func (l *errList) port(table, name string, p *int) uint16 {
	if p == nil {
		l.add(table, "missing %s", name)
		return 0
	}
	if !checkPort(l, table+"."+name, int64(*p)) {
		return 0
	}
	return uint16(*p)
}

// ranges reads an array of ports (80) and ranges ("8000-8100", "80").
func (l *errList) ranges(key string, list []portSpec) []PortRange {
	out := make([]PortRange, 0, len(list))
	for i, e := range list {
		k := index(key, i)
		switch e := e.(type) {
		case int64:
			if checkPort(l, k, e) {
				out = append(out, PortRange{uint16(e), uint16(e)})
			}
		case string:
			r, err := ParsePortRange(e)
			if err != nil {
				l.add(k, "%v", err)
				continue
			}
			out = append(out, r)
		}
	}
	return out
}

package config

import (
	"slices"
	"time"

	"github.com/wslfwd/wslfwd/hostd-windows/backend/relay"
)

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
		RelayMaxPerForward:   relay.DefaultMaxTCPConns,
		RelayMaxClients:      relay.DefaultMaxClients,
	}
}

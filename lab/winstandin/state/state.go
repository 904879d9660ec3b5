// Package state is what the Windows tool stand-ins keep: portproxy values,
// laid out exactly as Windows keeps them in the registry, and firewall
// rules, in a key of the stand-ins' own (Windows' own rule store is not a
// documented interface, and nothing in wslfwd reads it).
package state

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Table is a firewall rule table.
type Table string

// The firewalls the stand-ins keep rules for.
const (
	Windows Table = "windows" // netsh advfirewall, Get-NetFirewallRule
	HyperV  Table = "hyperv"  // the *-NetFirewallHyperVRule cmdlets
)

// Value is one portproxy registry value under PortProxy\<Kind>\tcp.
type Value struct {
	Name string // listenaddress/listenport
	Data string // connectaddress/connectport
}

// Rule is one firewall rule: its parameters as given, keys in lower case
// ("name", "dir", "localport" for netsh; "name", "displayname",
// "localports" for PowerShell).
type Rule map[string]string

// Store keeps the stand-ins' state. Values and Rules return entries in the
// order they were made, as the registry enumerates them.
type Store interface {
	// Values lists the values of one portproxy table (kind: v4tov4 ...).
	Values(kind string) ([]Value, error)
	// SetValue creates or replaces a value.
	SetValue(kind, name, data string) error
	// DeleteValue deletes a value; false when there was none.
	DeleteValue(kind, name string) (bool, error)
	// Rules lists a firewall's rules.
	Rules(t Table) ([]Rule, error)
	// SetRules replaces a firewall's rules.
	SetRules(t Table, rules []Rule) error
}

// EncodeRule renders a rule for storage as a registry string.
func EncodeRule(r Rule) (string, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return "", fmt.Errorf("encode firewall rule: %w", err)
	}
	return string(b), nil
}

// DecodeRule reads a stored rule back.
func DecodeRule(s string) (Rule, error) {
	var r Rule
	if err := json.NewDecoder(strings.NewReader(s)).Decode(&r); err != nil {
		return nil, fmt.Errorf("decode firewall rule %q: %w", s, err)
	}
	return r, nil
}

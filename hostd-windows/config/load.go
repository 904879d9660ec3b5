package config

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"

	"github.com/wslfwd/wslfwd/hostd-windows/backend"
)

// Load reads and validates the TOML file at path. Keys it does not set keep
// their defaults. Every error names the file, and the line and key when
// known; unknown keys are errors, so a typo never silently does nothing.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load config: %w", err)
	}
	return Parse(path, data)
}

// Parse is Load on data already read; name is used in messages.
func Parse(name string, data []byte) (*Config, error) {
	var doc map[string]any
	if err := toml.Unmarshal(data, &doc); err != nil {
		e := &Error{File: name, Msg: strings.TrimPrefix(err.Error(), "toml: ")}
		var de *toml.DecodeError
		if errors.As(err, &de) {
			e.Line, _ = de.Position()
			e.Key = keyPath(de.Key()...)
		}
		return nil, e
	}
	lines := keyLines(data)
	c := Default()
	d := decoder{}
	d.config(c, doc)
	if err := d.err(); err != nil {
		return nil, locate(err, name, lines)
	}
	if err := c.Validate(); err != nil {
		return nil, locate(err, name, lines)
	}
	return c, nil
}

// locate adds the file and line to every *Error in err and orders them by
// line. A key without a line of its own takes its parent's.
func locate(err error, name string, lines map[string]int) error {
	errs := Errors(err)
	for _, e := range errs {
		e.File = name
		for k := e.Key; k != "" && e.Line == 0; k = parentKey(k) {
			e.Line = lines[k]
		}
	}
	slices.SortStableFunc(errs, func(a, b *Error) int {
		return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Key, b.Key))
	})
	list := make([]error, len(errs))
	for i, e := range errs {
		list[i] = e
	}
	return errors.Join(list...)
}

// parentKey strips the last ".part" or "[i]" from a key path.
func parentKey(k string) string {
	if strings.HasSuffix(k, "]") {
		if i := strings.LastIndexByte(k, '['); i > 0 {
			return k[:i]
		}
	}
	// Quoted parts may contain dots; walk back over a trailing quoted part.
	if strings.HasSuffix(k, `"`) {
		if i := strings.LastIndex(k, `."`); i >= 0 {
			return k[:i]
		}
		return ""
	}
	if i := strings.LastIndexByte(k, '.'); i >= 0 {
		return k[:i]
	}
	return ""
}

// decoder turns the generic TOML document into a Config, collecting one
// error per bad key.
type decoder struct {
	errList
}

func (d *decoder) config(c *Config, doc map[string]any) {
	for k, v := range doc {
		switch k {
		case "listen":
			c.Listen = d.strings(k, v)
		case "expose_address":
			d.str(k, v, &c.ExposeAddress)
		case "backend":
			d.str(k, v, &c.Backend)
		case "state_dir":
			d.str(k, v, &c.StateDir)
		case "token_file":
			d.str(k, v, &c.TokenFile)
		case "read_token_file":
			d.str(k, v, &c.ReadTokenFile)
		case "agent_token_file":
			d.str(k, v, &c.AgentTokenFile)
		case "log_file":
			d.str(k, v, &c.LogFile)
		case "grace":
			var s string
			if d.str(k, v, &s) {
				g, err := time.ParseDuration(s)
				if err != nil {
					d.add(k, "%q is not a duration like \"30s\" or \"2m\"", s)
				}
				c.Grace = g
			}
		case "udp":
			d.boolean(k, v, &c.UDP)
		case "ipv6":
			d.boolean(k, v, &c.IPv6)
		case "firewall":
			d.boolean(k, v, &c.Firewall)
		case "firewall_profiles":
			c.FirewallProfiles = d.strings(k, v)
		case "deny_ports":
			c.DenyPorts = d.ranges(k, v)
		case "allow_ports":
			c.AllowPorts = d.ranges(k, v)
		case "remap":
			for i, t := range d.tables(k, v) {
				c.Remaps = append(c.Remaps, d.remap(index(k, i), t))
			}
		case "distros":
			t, _ := d.table(k, v)
			for name, dv := range t {
				dk := keyPath("distros", name)
				if dt, ok := d.table(dk, dv); ok {
					c.Distros[name] = d.distro(dk, dt)
				}
			}
		case "forward":
			for i, t := range d.tables(k, v) {
				c.Forwards = append(c.Forwards, d.forward(index(k, i), t))
			}
		case "max_listeners_per_agent":
			d.integer(k, v, &c.MaxListenersPerAgent)
		case "max_agents":
			d.integer(k, v, &c.MaxAgents)
		default:
			d.add(keyPath(k), "unknown key")
		}
	}
}

func (d *decoder) remap(key string, t map[string]any) Remap {
	var r Remap
	for k, v := range t {
		kk := key + "." + keyPart(k)
		switch k {
		case "port":
			r.Port = d.port(kk, v)
		case "host_port":
			r.HostPort = d.port(kk, v)
		case "distro":
			d.str(kk, v, &r.Distro)
		case "protocol":
			d.protocol(kk, v, &r.Protocol)
		default:
			d.add(kk, "unknown key")
		}
	}
	if _, ok := t["port"]; !ok {
		d.add(key, "missing port")
	}
	if _, ok := t["host_port"]; !ok {
		d.add(key, "missing host_port")
	}
	return r
}

func (d *decoder) distro(key string, t map[string]any) DistroConfig {
	var dc DistroConfig
	for k, v := range t {
		kk := key + "." + keyPart(k)
		switch k {
		case "enabled":
			var enabled bool
			if d.boolean(kk, v, &enabled) {
				dc.Disabled = !enabled
			}
		case "udp":
			var b bool
			if d.boolean(kk, v, &b) {
				dc.UDP = &b
			}
		default:
			d.add(kk, "unknown key")
		}
	}
	return dc
}

func (d *decoder) forward(key string, t map[string]any) StaticForward {
	f := StaticForward{Protocol: backend.TCP}
	for k, v := range t {
		kk := key + "." + keyPart(k)
		switch k {
		case "protocol":
			d.protocol(kk, v, &f.Protocol)
		case "port":
			f.Port = d.port(kk, v)
		case "host_port":
			f.HostPort = d.port(kk, v)
		case "distro":
			d.str(kk, v, &f.Distro)
		case "listen_address":
			var s string
			if d.str(kk, v, &s) && s != "" {
				a, err := netip.ParseAddr(s)
				if err != nil {
					d.add(kk, "%q is not an IP address", s)
				}
				f.ListenAddress = a
			}
		default:
			d.add(kk, "unknown key")
		}
	}
	if _, ok := t["port"]; !ok {
		d.add(key, "missing port")
	}
	return f
}

func (d *decoder) str(key string, v any, dst *string) bool {
	s, ok := v.(string)
	if !ok {
		d.add(key, "want a string, got %s", typeName(v))
		return false
	}
	*dst = s
	return true
}

func (d *decoder) boolean(key string, v any, dst *bool) bool {
	b, ok := v.(bool)
	if !ok {
		d.add(key, "want true or false, got %s", typeName(v))
		return false
	}
	*dst = b
	return true
}

func (d *decoder) integer(key string, v any, dst *int) {
	n, ok := v.(int64)
	if !ok {
		d.add(key, "want an integer, got %s", typeName(v))
		return
	}
	if n < 1 || n > 1<<30 {
		d.add(key, "%d out of range 1-%d", n, 1<<30)
		return
	}
	*dst = int(n)
}

func (d *decoder) port(key string, v any) uint16 {
	n, ok := v.(int64)
	if !ok {
		d.add(key, "want a port number, got %s", typeName(v))
		return 0
	}
	if n < 1 || n > 65535 {
		d.add(key, "port %d out of range 1-65535", n)
		return 0
	}
	return uint16(n)
}

func (d *decoder) protocol(key string, v any, dst *backend.Protocol) {
	var s string
	if !d.str(key, v, &s) {
		return
	}
	*dst = backend.Protocol(strings.ToLower(s))
}

func (d *decoder) list(key string, v any) ([]any, bool) {
	l, ok := v.([]any)
	if !ok {
		d.add(key, "want an array, got %s", typeName(v))
	}
	return l, ok
}

func (d *decoder) strings(key string, v any) []string {
	l, _ := d.list(key, v)
	out := make([]string, 0, len(l))
	for i, e := range l {
		var s string
		if d.str(index(key, i), e, &s) {
			out = append(out, s)
		}
	}
	return out
}

// ranges reads an array of ports (80) and ranges ("8000-8100", "80").
func (d *decoder) ranges(key string, v any) []PortRange {
	l, _ := d.list(key, v)
	out := make([]PortRange, 0, len(l))
	for i, e := range l {
		k := index(key, i)
		switch e := e.(type) {
		case int64:
			if p := d.port(k, e); p != 0 {
				out = append(out, PortRange{p, p})
			}
		case string:
			r, err := ParsePortRange(e)
			if err != nil {
				d.add(k, "%v", err)
				continue
			}
			out = append(out, r)
		default:
			d.add(k, "want a port or a \"first-last\" range, got %s", typeName(e))
		}
	}
	return out
}

// ParsePortRange parses "80" or "8000-8100".
func ParsePortRange(s string) (PortRange, error) {
	first, last, isRange := strings.Cut(s, "-")
	a, err := parsePort(first)
	if err != nil {
		return PortRange{}, fmt.Errorf("%q: %w", s, err)
	}
	b := a
	if isRange {
		if b, err = parsePort(last); err != nil {
			return PortRange{}, fmt.Errorf("%q: %w", s, err)
		}
	}
	if a > b {
		return PortRange{}, fmt.Errorf("range %q is backwards", s)
	}
	return PortRange{a, b}, nil
}

func parsePort(s string) (uint16, error) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("%q is not a port number", s)
	}
	if n < 1 || n > 65535 {
		return 0, fmt.Errorf("port %d out of range 1-65535", n)
	}
	return uint16(n), nil
}

func (d *decoder) table(key string, v any) (map[string]any, bool) {
	t, ok := v.(map[string]any)
	if !ok {
		d.add(key, "want a table, got %s", typeName(v))
	}
	return t, ok
}

// tables reads an array of tables ([[key]] or key = [{...}, ...]).
func (d *decoder) tables(key string, v any) []map[string]any {
	l, ok := d.list(key, v)
	if !ok {
		return nil
	}
	out := make([]map[string]any, 0, len(l))
	for i, e := range l {
		t, ok := d.table(index(key, i), e)
		if !ok {
			t = map[string]any{}
		}
		out = append(out, t)
	}
	return out
}

func typeName(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case bool:
		return "a boolean"
	case []any:
		return "an array"
	case map[string]any:
		return "a table"
	}
	return "a date or time"
}

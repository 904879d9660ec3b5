package config

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wslfwd/wslfwd/hostd-windows/backend"
)

func TestDefaultIsValid(t *testing.T) {
	c := Default()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, p := range []uint16{135, 139, 445, 2179, 3389, 5985, 5986, 47001} {
		if !c.Denied(p) {
			t.Errorf("default deny list lacks %d", p)
		}
	}
	if c.Denied(80) || !c.Allowed(80) || !c.UDP || c.IPv6 || c.Grace != DefaultGrace {
		t.Errorf("unexpected default %+v", c)
	}
	// LAN clients reach forwards by default, but only in the Private and
	// Domain profiles: never on a public network unless asked.
	if !c.Firewall || !reflect.DeepEqual(c.FirewallProfiles, []string{"private", "domain"}) {
		t.Errorf("firewall default %v in %q, want on in private and domain", c.Firewall, c.FirewallProfiles)
	}
}

// The example documents every key; loading it gives the defaults plus its
// example tables.
func TestExampleLoads(t *testing.T) {
	c, err := Load("example.toml")
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.Listen = []string{}
	want.AllowPorts = []PortRange{}
	want.Remaps = []Remap{{Port: 22, HostPort: 2222, Distro: "Ubuntu", Protocol: backend.TCP}}
	no := false
	want.Distros = map[string]DistroConfig{
		"Ubuntu":         {UDP: &no},
		"docker-desktop": {Disabled: true},
	}
	want.Forwards = []StaticForward{{Protocol: backend.TCP, Port: 5432, Distro: "Ubuntu", HostPort: 15432,
		ListenAddress: netip.MustParseAddr("192.168.1.20")}}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("example.toml =\n%+v\nwant\n%+v", c, want)
	}
	// Every key Load knows appears in the example.
	data, err := os.ReadFile("example.toml")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"listen", "expose_address", "backend", "state_dir", "token_file",
		"read_token_file", "agent_token_file", "log_file", "metrics_listen", "grace", "udp", "ipv6", "firewall", "firewall_profiles", "deny_ports",
		"allow_ports", "[[remap]]", "port", "host_port", "distro", "protocol", "[distros.", "enabled",
		"[[forward]]", "listen_address", "max_listeners_per_agent", "max_agents", "relay_max_per_forward", "relay_max_clients"} {
		if !strings.Contains(string(data), "\n"+k) {
			t.Errorf("example.toml does not set %s", k)
		}
	}
}

func TestParseValues(t *testing.T) {
	c, err := Parse("c.toml", []byte(`
listen = ["127.0.0.1:17810", "[::1]:17810"]
expose_address = "10.2.3.1"
backend = "relay"
grace = "2m"
udp = false
ipv6 = true
firewall = false
firewall_profiles = ["public"]
deny_ports = []
allow_ports = [80, "8000-8100", "443"]
remap = [{port = 80, host_port = 8080}]
distros.Debian.enabled = false
[[forward]]
port = 53
protocol = "UDP"
distro = "Debian"
`))
	if err != nil {
		t.Fatal(err)
	}
	if c.ExposeAddress != "10.2.3.1" || c.Expose() != netip.MustParseAddr("10.2.3.1") || c.Backend != "relay" ||
		c.Grace != 2*time.Minute || c.UDP || !c.IPv6 || len(c.DenyPorts) != 0 || len(c.Listen) != 2 {
		t.Errorf("got %+v", c)
	}
	if c.Firewall || !reflect.DeepEqual(c.FirewallProfiles, []string{"public"}) {
		t.Errorf("firewall %v in %q, want off, public", c.Firewall, c.FirewallProfiles)
	}
	if !c.Allowed(8050) || !c.Allowed(443) || c.Allowed(81) {
		t.Errorf("allow list %v", c.AllowPorts)
	}
	if hp, ok := c.HostPort(80, "any", backend.UDP); !ok || hp != 8080 {
		t.Errorf("HostPort(80) = %d, %v", hp, ok)
	}
	if !c.Distro("Debian").Disabled || c.Distro("Other").Disabled {
		t.Errorf("distros %+v", c.Distros)
	}
	if len(c.Forwards) != 1 || c.Forwards[0].Protocol != backend.UDP || c.Forwards[0].Port != 53 {
		t.Errorf("forwards %+v", c.Forwards)
	}
}

func TestParseErrorsNameLineAndKey(t *testing.T) {
	for _, tc := range []struct {
		name, doc, want string
	}{
		{"port range", "udp = true\ndeny_ports = [\n  135,\n  445,\n  70000,\n]\n",
			"c.toml:5: deny_ports[2]: port 70000 out of range 1-65535"},
		{"one-line array", "\ndeny_ports = [1, 2, 0]\n", "c.toml:2: deny_ports[2]: port 0 out of range 1-65535"},
		{"range string", `allow_ports = ["9-3"]`, `c.toml:1: allow_ports[0]: range "9-3" is backwards`},
		{"range junk", `allow_ports = ["x"]`, `c.toml:1: allow_ports[0]: "x": "x" is not a port number`},
		{"range type", `allow_ports = [true]`, `c.toml:1: allow_ports[0]: want a port or a "first-last" range, got a boolean`},
		{"unknown top", "udp = true\nudpp = false\n", "c.toml:2: udpp: unknown key"},
		{"unknown in array table", "[[remap]]\nport = 1\nhost_port = 2\n\n[[remap]]\nport = 3\nhost_port = 4\nbogus = 1\n",
			"c.toml:8: remap[1].bogus: unknown key"},
		{"unknown in distro", "[distros.\"Ubuntu 24.04\"]\nenabled = false\nudb = true\n",
			`c.toml:3: distros."Ubuntu 24.04".udb: unknown key`},
		{"type", "\n\nudp = 1\n", "c.toml:3: udp: want true or false, got an integer"},
		{"duration", `grace = "soon"`, `c.toml:1: grace: "soon" is not a duration like "30s" or "2m"`},
		{"negative grace", `grace = "-1s"`, `c.toml:1: grace: -1s out of range 0-168h0m0s`},
		{"backend", "\nbackend = \"wintun\"\n", `c.toml:2: backend: "wintun" is not "relay", "portproxy" or "kernel"`},
		{"expose v6", `expose_address = "::"`, `c.toml:1: expose_address: :: is not an IPv4 address (IPv6 exposure uses [::] when ipv6 = true)`},
		{"expose loopback portproxy", "backend = \"portproxy\"\nexpose_address = \"127.0.0.1\"\n",
			`c.toml:2: expose_address: 127.0.0.1: ` + portproxyLoopback},
		{"forward loopback portproxy", "backend = \"portproxy\"\n[[forward]]\nport = 5\ndistro = \"a\"\nlisten_address = \"127.0.0.2\"\n",
			`c.toml:5: forward[0].listen_address: 127.0.0.2: ` + portproxyLoopback},
		{"listen", "listen = [\n\"127.0.0.1:1\",\n\"localhost:2\"]\n", `c.toml:3: listen[1]: "localhost:2": host must be an IP address`},
		{"remap missing", "[[remap]]\nport = 22\n", "c.toml:1: remap[0]: missing host_port"},
		{"remap protocol", "[[remap]]\nport = 22\nhost_port = 1\nprotocol = \"sctp\"\n", `c.toml:4: remap[0].protocol: "sctp" is not "tcp" or "udp"`},
		{"remap dup", "[[remap]]\nport = 22\nhost_port = 1\n[[remap]]\nport = 22\nhost_port = 2\n",
			"c.toml:4: remap[1]: remaps the same port, distro and protocol as remap[0]"},
		{"forward distro", "[[forward]]\nport = 5\n", "c.toml:1: forward[0].distro: missing: name the distro to forward to"},
		{"forward addr", "[[forward]]\nport = 5\ndistro = \"a\"\nlisten_address = \"x\"\n", `c.toml:4: forward[0].listen_address: ParseAddr("x"): unable to parse IP`},
		{"forward dup", "[[forward]]\nport = 5\ndistro = \"a\"\n[[forward]]\nport = 6\nhost_port = 5\ndistro = \"b\"\n",
			"c.toml:4: forward[1]: same protocol, host address and host port as forward[0]"},
		{"profile", "firewall_profiles = [\"private\", \"Work\"]", `c.toml:1: firewall_profiles[1]: "Work" is not "private", "domain" or "public"`},
		{"profile twice", "firewall_profiles = [\"domain\", \"domain\"]", `c.toml:1: firewall_profiles[1]: "domain" named twice`},
		{"no profile", "firewall_profiles = []", `c.toml:1: firewall_profiles: empty: name at least one of "private", "domain", "public" (or set firewall = false)`},
		{"max", "max_agents = 0", "c.toml:1: max_agents: 0 out of range 1-1024"},
		{"max, huge", "max_listeners_per_agent = 1073741824", "c.toml:1: max_listeners_per_agent: 1073741824 out of range 1-32768"},
		{"relay clients", "relay_max_clients = 100000", "c.toml:1: relay_max_clients: 100000 out of range 1-8192"},
		{"relay per forward past all", "relay_max_clients = 10\nrelay_max_per_forward = 11", "c.toml:2: relay_max_per_forward: 11 out of range 1-10"},
		{"grace, centuries", `grace = "2540000h"`, "c.toml:1: grace: 2540000h0m0s out of range 0-168h0m0s"},
		{"forward to broadcast", "[[forward]]\nport = 80\ndistro = \"U\"\nlisten_address = \"255.255.255.255\"", "c.toml:4: forward[0].listen_address: 255.255.255.255 cannot be listened on"},
		{"syntax", "udp = true\nx = [\n", "c.toml:2: array is incomplete"},
		{"duplicate", "udp = true\nudp = false\n", "c.toml:2: udp: key udp is already defined"},
		{"distros not table", "distros = 1", "c.toml:1: distros: want a table, got an integer"},
		{"element type", "listen = [\"127.0.0.1:1\", 1]", "c.toml:1: listen[1]: want a string, got an integer"},
		{"inline table element", "forward = [{port = 1, distro = \"x\"}, 3]", "c.toml:1: forward[1]: want a table, got an integer"},
		{"type in second array table", "[[remap]]\nport = 1\nhost_port = 2\n[[remap]]\nport = \"x\"\nhost_port = 3\n",
			"c.toml:5: remap[1].port: want an integer, got a string"},
		{"inline port", "remap = [{port = 1, host_port = 70000}]", "c.toml:1: remap[0].host_port: port 70000 out of range 1-65535"},
		{"duration type", "grace = 5", "c.toml:1: grace: want a string, got an integer"},
		{"table for array", "[forward]\nport = 1\n", "c.toml:1: forward: want an array, got a table"},
		{"table for value", "[udp]\na = 1\n", "c.toml:1: udp: want true or false, got a table"},
		{"implicit table for array", "[[forward.x]]\n", "c.toml:1: forward: want an array, got a table"},
		// go-toml matches keys to fields in any case; TOML keys are case-sensitive.
		{"key case", "UDP = false", "c.toml:1: UDP: unknown key"},
		{"table key case", "[[Forward]]\nport = 1\ndistro = \"a\"\n", "c.toml:1: Forward: unknown key"},
		{"inner key case", "[[forward]]\nPort = 1\ndistro = \"a\"\n", "c.toml:2: forward[0].Port: unknown key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("c.toml", []byte(tc.doc))
			if err == nil {
				t.Fatalf("Parse succeeded, want %q", tc.want)
			}
			if got := strings.Split(err.Error(), "\n")[0]; got != tc.want {
				t.Fatalf("error\n %q\nwant\n %q", got, tc.want)
			}
		})
	}
}

func TestParseReportsEveryProblemInLineOrder(t *testing.T) {
	_, err := Parse("c.toml", []byte("a = 1\nudp = 2\nb = 3\n"))
	got := err.Error()
	want := "c.toml:1: a: unknown key\nc.toml:2: udp: want true or false, got an integer\nc.toml:3: b: unknown key"
	if got != want {
		t.Fatalf("error\n%s\nwant\n%s", got, want)
	}
	if n := len(Errors(err)); n != 3 {
		t.Fatalf("Errors() has %d, want 3", n)
	}
}

// go-toml stops at the first value of the wrong type or that does not
// parse; Parse still reports each, with the unknown keys.
func TestParseReportsEveryBadValue(t *testing.T) {
	_, err := Parse("c.toml", []byte("udp = 2\n[[forward]]\nport = 1\ndistro = \"a\"\nlisten_address = \"x\"\n"+
		"[[forward]]\nport = 2\ndistro = \"a\"\nlisten_address = \"y\"\nbogus = 1\n[distros.a]\nenabled = 1\n"))
	var got []string
	for _, e := range Errors(err) {
		got = append(got, fmt.Sprintf("%d %s", e.Line, e.Key))
	}
	want := []string{"1 udp", "5 forward[0].listen_address", "9 forward[1].listen_address", "10 forward[1].bogus", "12 distros.a.enabled"}
	if !slices.Equal(got, want) {
		t.Fatalf("errors at %q, want %q\n%v", got, want, err)
	}
}

func TestLoadMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "none.toml")
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("Load(missing) = %v, want an error naming %s", err, path)
	}
}

func TestValidateWithoutFileNamesKey(t *testing.T) {
	c := Default()
	c.ExposeAddress = "nope" // as a flag would set it
	c.DenyPorts = append(c.DenyPorts, PortRange{10, 5})
	err := c.Validate()
	if err == nil {
		t.Fatal("Validate accepted bad values")
	}
	for _, want := range []string{`expose_address: "nope" is not an IP address`, "deny_ports[7]: range 10-5 is backwards"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func TestUDPFor(t *testing.T) {
	c := Default()
	off := false
	c.Distros["A B"] = DistroConfig{UDP: &off}
	if ok, key := c.UDPFor("A B"); ok || key != `distros."A B".udp` {
		t.Errorf("UDPFor(A B) = %v, %q", ok, key)
	}
	if ok, _ := c.UDPFor("C"); !ok {
		t.Error("UDPFor(C) = false")
	}
	c.UDP = false
	if ok, key := c.UDPFor("C"); ok || key != "udp" {
		t.Errorf("UDPFor(C) with udp off = %v, %q", ok, key)
	}
}

func TestTokenPath(t *testing.T) {
	c := Default()
	if got := c.TokenPath("/s"); got != filepath.Join("/s", "token") {
		t.Errorf("TokenPath = %q", got)
	}
	c.TokenFile = "/t"
	if got := c.TokenPath("/s"); got != "/t" {
		t.Errorf("TokenPath = %q", got)
	}
}

// Loopback exposure is refused for portproxy only: the relay may listen
// there, and an empty backend is decided by main per platform (policy
// refuses it then).
func TestLoopbackExposeByBackend(t *testing.T) {
	for _, b := range []string{"", BackendRelay, BackendPortproxy} {
		c := Default()
		c.Backend, c.ExposeAddress = b, "127.0.0.1"
		err := c.Validate()
		if (err != nil) != (b == BackendPortproxy) {
			t.Errorf("backend %q, expose 127.0.0.1: Validate() = %v", b, err)
		}
		if err != nil && !strings.Contains(err.Error(), "portproxy does not listen on loopback") {
			t.Errorf("backend %q: error %q does not say why", b, err)
		}
	}
}

// A config is read only when it is a regular file, and only up to
// maxFileSize: each refusal names the file and loads nothing. Who may
// change it is TestLoadRefusesSharedFiles (Unix modes) and fileperm's
// tests (Windows DACLs).
func TestLoadRefusesOddFiles(t *testing.T) {
	dir := t.TempDir()
	ok := writeConfig(t, dir, "ok.toml", []byte("udp = true\n"), 0o644)
	if c, err := Load(ok); err != nil || !c.UDP {
		t.Fatalf("Load(0644 config) = %+v, %v", c, err)
	}
	wantLoadRefused(t, writeConfig(t, dir, "big.toml", bytes.Repeat([]byte("# padding\n"), maxFileSize/10+1), 0o644), "larger than 1024 KiB")
	wantLoadRefused(t, dir, "not a regular file")
}

// writeConfig writes a config file into dir with mode, past the umask.
func writeConfig(t *testing.T, dir, name string, data []byte, mode os.FileMode) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
	return path
}

// wantLoadRefused fails unless Load refuses path with an error that names
// it and says each of want.
func wantLoadRefused(t *testing.T, path string, want ...string) {
	t.Helper()
	c, err := Load(path)
	if err == nil {
		t.Fatalf("Load(%s) = %+v, want a refusal", path, c)
	}
	for _, w := range append(want, path) {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("Load(%s): %v, want it to say %q", path, err, w)
		}
	}
}

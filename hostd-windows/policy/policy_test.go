package policy

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/hostd-windows/backend"
	"github.com/wslfwd/wslfwd/hostd-windows/config"
)

const (
	nat      = wslfwdv1.NetworkingMode_NETWORKING_MODE_NAT
	pending  = wslfwdv1.ForwardState_FORWARD_STATE_PENDING
	blocked  = wslfwdv1.ForwardState_FORWARD_STATE_BLOCKED
	direct   = wslfwdv1.ForwardState_FORWARD_STATE_DIRECT
	conflict = wslfwdv1.ForwardState_FORWARD_STATE_CONFLICT
	tcp      = wslfwdv1.Protocol_PROTOCOL_TCP
	udp      = wslfwdv1.Protocol_PROTOCOL_UDP
)

var (
	t0      = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	distro4 = netip.MustParseAddr("172.28.240.53")
	ula6    = netip.MustParseAddr("fd00::53")
	ll6     = netip.MustParseAddr("fe80::53")
)

func lst(p wslfwdv1.Protocol, listen string, port uint32) *wslfwdv1.Listener {
	return &wslfwdv1.Listener{Protocol: p, Listen: listen, Port: port, Inode: uint64(port)*10 + uint64(len(listen))}
}

func agent(id, distro string, mode wslfwdv1.NetworkingMode, ls ...*wslfwdv1.Listener) Agent {
	return Agent{ID: id, Distro: distro, Mode: mode, Targets: []netip.Addr{distro4}, Listeners: ls,
		Connected: true, ConnectedAt: t0}
}

// one runs Decide for a single NAT agent with one listener and returns the
// decisions.
func one(t *testing.T, cfg *config.Config, l *wslfwdv1.Listener, mut ...func(*Input)) []Decision {
	t.Helper()
	in := Input{Agents: []Agent{agent("a1", "Ubuntu", nat, l)}, Config: cfg, ReservedPorts: []uint16{17810}}
	for _, m := range mut {
		m(&in)
	}
	return Decide(in)
}

type want struct {
	state  wslfwdv1.ForwardState
	reason string // substring; "" means the reason must be empty
	entry  string // "" means no check; else Entry.String()
}

func check(t *testing.T, got []Decision, want ...want) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d decisions, want %d:\n%s", len(got), len(want), dump(got))
	}
	for i, w := range want {
		g := got[i]
		if g.State != w.state || (w.reason == "") != (g.Reason == "") || !strings.Contains(g.Reason, w.reason) {
			t.Errorf("decision %d: %v %q, want %v %q", i, g.State, g.Reason, w.state, w.reason)
		}
		// A pending decision "forwarded by" another is carried, not wanted.
		carried := w.state == pending && strings.HasPrefix(w.reason, "forwarded by ")
		if g.Want != (w.state == pending && !carried) || g.Carried != carried {
			t.Errorf("decision %d: Want = %v, Carried = %v with state %v", i, g.Want, g.Carried, g.State)
		}
		if w.entry != "" && g.Entry.String() != w.entry {
			t.Errorf("decision %d: entry %q, want %q", i, g.Entry, w.entry)
		}
	}
}

func dump(ds []Decision) string {
	var b strings.Builder
	for _, d := range ds {
		fmt.Fprintf(&b, "  %v %s %q %v want=%v\n", d.Origin, d.Entry, d.Reason, d.State, d.Want)
	}
	return b.String()
}

func TestModeTable(t *testing.T) {
	v6on := config.Default()
	v6on.IPv6 = true
	for _, tc := range []struct {
		name string
		cfg  *config.Config
		l    *wslfwdv1.Listener
		mode wslfwdv1.NetworkingMode
		want []want
	}{
		{"nat any v4", nil, lst(tcp, "0.0.0.0", 8080), nat,
			[]want{{pending, "", "tcp 0.0.0.0:8080 -> 172.28.240.53:8080"}}},
		{"nat :: dual stack", nil, &wslfwdv1.Listener{Protocol: tcp, Listen: "::", Port: 8080}, nat,
			[]want{{pending, "", "tcp 0.0.0.0:8080 -> 172.28.240.53:8080"}}},
		{"nat own address", nil, lst(tcp, "172.28.240.53", 8080), nat,
			[]want{{pending, "", "tcp 0.0.0.0:8080 -> 172.28.240.53:8080"}}},
		{"nat other interface's address (docker0) is no target", nil, lst(udp, "172.17.0.1", 53), nat,
			[]want{{blocked, "bound to 172.17.0.1, which is not the address the agent connects from", ""}}},
		{"nat v4-mapped any", nil, lst(tcp, "::ffff:0.0.0.0", 8080), nat,
			[]want{{pending, "", "tcp 0.0.0.0:8080 -> 172.28.240.53:8080"}}},
		{"nat foreign address", nil, lst(tcp, "10.9.9.9", 8080), nat,
			[]want{{blocked, "bound to 10.9.9.9, which is not the address the agent connects from", ""}}},
		{"nat loopback v4", nil, lst(tcp, "127.0.0.1", 8080), nat,
			[]want{{blocked, "bound to 127.0.0.1 only: unreachable from the host through the distro address", ""}}},
		{"nat loopback 127.0.0.53", nil, lst(udp, "127.0.0.53", 53), nat,
			[]want{{blocked, "bound to 127.0.0.53 only: unreachable", ""}}},
		{"nat loopback v6", nil, lst(tcp, "::1", 8080), nat,
			[]want{{blocked, "bound to ::1 only: unreachable from the host through the distro address", ""}}},
		{"nat v6only any, ipv6 off", nil, &wslfwdv1.Listener{Protocol: tcp, Listen: "::", Port: 8080, V6Only: true}, nat,
			[]want{{blocked, "bound to IPv6 only (:: with IPV6_V6ONLY): IPv6 exposure is off (ipv6 = false)", ""}}},
		{"nat specific v6, ipv6 off", nil, lst(tcp, "fd00::53", 8080), nat,
			[]want{{blocked, "bound to IPv6 only (fd00::53): IPv6 exposure is off", ""}}},
		{"nat v6only any, ipv6 on, no routable v6", v6on, &wslfwdv1.Listener{Protocol: tcp, Listen: "::", Port: 8080, V6Only: true}, nat,
			[]want{{blocked, "the agent connects over IPv4, and NAT mode forwards only to the address it connects from", ""}}},
		{"nat any, ipv6 on: v4 and v6tov4", v6on, lst(tcp, "0.0.0.0", 8080), nat,
			[]want{{pending, "", "tcp 0.0.0.0:8080 -> 172.28.240.53:8080"}, {pending, "", "tcp [::]:8080 -> 172.28.240.53:8080"}}},
		{"mirrored", nil, lst(tcp, "127.0.0.1", 8080), wslfwdv1.NetworkingMode_NETWORKING_MODE_MIRRORED,
			[]want{{direct, "shares the host's addresses; no forward needed", ""}}},
		{"wsl1", nil, lst(tcp, "0.0.0.0", 8080), wslfwdv1.NetworkingMode_NETWORKING_MODE_WSL1,
			[]want{{direct, "shares the host's addresses; no forward needed", ""}}},
		// A direct listener gets a firewall rule: the port rules apply.
		{"mirrored denied port", nil, lst(tcp, "0.0.0.0", 445), wslfwdv1.NetworkingMode_NETWORKING_MODE_MIRRORED,
			[]want{{blocked, "port 445 is in the deny list", ""}}},
		{"wsl1 denied port", nil, lst(tcp, "0.0.0.0", 3389), wslfwdv1.NetworkingMode_NETWORKING_MODE_WSL1,
			[]want{{blocked, "port 3389 is in the deny list", ""}}},
		{"mirrored bad port", nil, lst(tcp, "0.0.0.0", 70000), wslfwdv1.NetworkingMode_NETWORKING_MODE_MIRRORED,
			[]want{{blocked, "invalid listener: port 70000", ""}}},
		{"bridged", nil, lst(tcp, "0.0.0.0", 8080), wslfwdv1.NetworkingMode_NETWORKING_MODE_BRIDGED,
			[]want{{blocked, "networking mode bridged is not supported: the distro has its own address", ""}}},
		{"virtioproxy", nil, lst(tcp, "0.0.0.0", 8080), wslfwdv1.NetworkingMode_NETWORKING_MODE_VIRTIOPROXY,
			[]want{{blocked, "networking mode virtioproxy is not supported: user-mode networking", ""}}},
		{"none", nil, lst(tcp, "0.0.0.0", 8080), wslfwdv1.NetworkingMode_NETWORKING_MODE_NONE,
			[]want{{blocked, "networking mode none is not supported: the distro has no network", ""}}},
		{"unknown", nil, lst(tcp, "0.0.0.0", 8080), wslfwdv1.NetworkingMode_NETWORKING_MODE_UNKNOWN,
			[]want{{blocked, "networking mode unknown is not supported: the agent could not detect", ""}}},
		{"unspecified", nil, lst(tcp, "0.0.0.0", 8080), wslfwdv1.NetworkingMode_NETWORKING_MODE_UNSPECIFIED,
			[]want{{blocked, "networking mode unknown is not supported", ""}}},
		{"bad protocol", nil, lst(wslfwdv1.Protocol_PROTOCOL_UNSPECIFIED, "0.0.0.0", 1), nat,
			[]want{{blocked, "invalid listener: protocol", ""}}},
		{"bad port", nil, lst(tcp, "0.0.0.0", 70000), nat, []want{{blocked, "invalid listener: port 70000", ""}}},
		{"bad address", nil, lst(tcp, "eth0", 80), nat, []want{{blocked, `invalid listener address "eth0"`, ""}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := one(t, tc.cfg, tc.l, func(in *Input) { in.Agents[0].Mode = tc.mode })
			check(t, got, tc.want...)
			for _, d := range got {
				if d.Origin != wslfwdv1.ForwardOrigin_FORWARD_ORIGIN_AGENT || d.AgentID != "a1" || d.Distro != "Ubuntu" || d.Listener != tc.l {
					t.Errorf("decision does not name its listener: %+v", d)
				}
			}
		})
	}
}

func TestIPv6OnWithRoutableAddress(t *testing.T) {
	cfg := config.Default()
	cfg.IPv6 = true
	withV6 := func(in *Input) { in.Agents[0].Targets = append(in.Agents[0].Targets, ula6) }
	check(t, one(t, cfg, &wslfwdv1.Listener{Protocol: tcp, Listen: "::", Port: 9, V6Only: true}, withV6),
		want{pending, "", "tcp [::]:9 -> [fd00::53]:9"})
	check(t, one(t, cfg, lst(tcp, "fd00::53", 9), withV6), want{pending, "", "tcp [::]:9 -> [fd00::53]:9"})
	check(t, one(t, cfg, lst(tcp, "fe80::53", 9), withV6), want{blocked, "NAT mode forwards only to the address it connects from", ""})
}

func TestNoIPv4Address(t *testing.T) {
	check(t, one(t, nil, lst(tcp, "0.0.0.0", 80), func(in *Input) { in.Agents[0].Targets = []netip.Addr{ll6} }),
		want{blocked, "the agent connects from no IPv4 address, the only address it may forward to", ""})
}

func TestRules(t *testing.T) {
	cfgWith := func(f func(c *config.Config)) *config.Config {
		c := config.Default()
		f(c)
		return c
	}
	off := false
	for _, tc := range []struct {
		name string
		cfg  *config.Config
		l    *wslfwdv1.Listener
		mut  func(*Input)
		want want
	}{
		{"reserved", nil, lst(tcp, "0.0.0.0", 17810), nil,
			want{blocked, "port 17810 is the daemon's own port", "tcp 0.0.0.0:17810 -> 172.28.240.53:17810"}},
		{"deny default", nil, lst(tcp, "0.0.0.0", 3389), nil, want{blocked, "port 3389 is in the deny list (deny_ports)", ""}},
		{"deny range", nil, lst(tcp, "0.0.0.0", 5986), nil, want{blocked, "port 5986 is in the deny list", ""}},
		{"deny emptied", cfgWith(func(c *config.Config) { c.DenyPorts = nil }), lst(tcp, "0.0.0.0", 445), nil,
			want{pending, "", "tcp 0.0.0.0:445 -> 172.28.240.53:445"}},
		{"allow miss", cfgWith(func(c *config.Config) { c.AllowPorts = []config.PortRange{{First: 8000, Last: 8100}} }), lst(tcp, "0.0.0.0", 80), nil,
			want{blocked, "port 80 is not in the allow list (allow_ports)", ""}},
		{"allow hit", cfgWith(func(c *config.Config) { c.AllowPorts = []config.PortRange{{First: 8000, Last: 8100}} }), lst(tcp, "0.0.0.0", 8050), nil,
			want{pending, "", ""}},
		{"distro disabled", cfgWith(func(c *config.Config) { c.Distros["Ubuntu"] = config.DistroConfig{Disabled: true} }),
			lst(tcp, "0.0.0.0", 80), nil, want{blocked, "distro Ubuntu is disabled in the config (enabled = false)", ""}},
		{"udp off", cfgWith(func(c *config.Config) { c.UDP = false }), lst(udp, "0.0.0.0", 53), nil,
			want{blocked, "UDP forwarding is off (udp = false)", ""}},
		{"udp off tcp fine", cfgWith(func(c *config.Config) { c.UDP = false }), lst(tcp, "0.0.0.0", 53), nil, want{pending, "", ""}},
		{"udp off for distro", cfgWith(func(c *config.Config) { c.Distros["Ubuntu"] = config.DistroConfig{UDP: &off} }),
			lst(udp, "0.0.0.0", 53), nil, want{blocked, `UDP forwarding is off (distros.Ubuntu.udp = false)`, ""}},
		{"backend lacks udp", nil, lst(udp, "0.0.0.0", 53), func(in *Input) {
			in.Supports = func(p backend.Protocol) bool { return p == backend.TCP }
		}, want{blocked, "the backend cannot carry udp", ""}},
		{"remap", cfgWith(func(c *config.Config) { c.Remaps = []config.Remap{{Port: 22, HostPort: 2222}} }),
			lst(tcp, "0.0.0.0", 22), nil, want{pending, "", "tcp 0.0.0.0:2222 -> 172.28.240.53:22"}},
		{"remap other distro", cfgWith(func(c *config.Config) { c.Remaps = []config.Remap{{Port: 22, HostPort: 2222, Distro: "Debian"}} }),
			lst(tcp, "0.0.0.0", 22), nil, want{pending, "", "tcp 0.0.0.0:22 -> 172.28.240.53:22"}},
		{"remap other protocol", cfgWith(func(c *config.Config) { c.Remaps = []config.Remap{{Port: 22, HostPort: 2222, Protocol: backend.UDP}} }),
			lst(tcp, "0.0.0.0", 22), nil, want{pending, "", "tcp 0.0.0.0:22 -> 172.28.240.53:22"}},
		{"remap onto denied port", cfgWith(func(c *config.Config) { c.Remaps = []config.Remap{{Port: 8445, HostPort: 445}} }),
			lst(tcp, "0.0.0.0", 8445), nil, want{blocked, "port 445 is in the deny list", "tcp 0.0.0.0:445 -> 172.28.240.53:8445"}},
		{"remap off a denied port", cfgWith(func(c *config.Config) { c.Remaps = []config.Remap{{Port: 3389, HostPort: 13389}} }),
			lst(tcp, "0.0.0.0", 3389), nil, want{pending, "", "tcp 0.0.0.0:13389 -> 172.28.240.53:3389"}},
		{"expose address", nil, lst(tcp, "0.0.0.0", 80), func(in *Input) { in.ExposeAddr = netip.MustParseAddr("10.2.3.1") },
			want{pending, "", "tcp 10.2.3.1:80 -> 172.28.240.53:80"}},
		{"expose address from config", cfgWith(func(c *config.Config) { c.ExposeAddress = "127.0.0.1" }), lst(tcp, "0.0.0.0", 80), nil,
			want{pending, "", "tcp 127.0.0.1:80 -> 172.28.240.53:80"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var muts []func(*Input)
			if tc.mut != nil {
				muts = append(muts, tc.mut)
			}
			check(t, one(t, tc.cfg, tc.l, muts...), tc.want)
		})
	}
}

// An agent inside its grace period still wants its forwards.
func TestDisconnectedAgentStillWants(t *testing.T) {
	check(t, one(t, nil, lst(tcp, "0.0.0.0", 80), func(in *Input) { in.Agents[0].Connected = false }),
		want{pending, "", "tcp 0.0.0.0:80 -> 172.28.240.53:80"})
}

func TestSharedNamespaceDeduplication(t *testing.T) {
	shared := func(pid uint32) *wslfwdv1.Listener {
		return &wslfwdv1.Listener{Protocol: tcp, Listen: "0.0.0.0", Port: 80, Inode: 777, Pid: pid, ProcessName: map[bool]string{true: "nginx"}[pid != 0]}
	}
	a := agent("a", "Ubuntu", nat, shared(0))
	b := agent("b", "Debian", nat, shared(42))
	c := agent("c", "Alpine", nat, shared(0))
	b.ConnectedAt = t0.Add(time.Second)
	c.ConnectedAt = t0.Add(2 * time.Second)

	// The agent that sees the process owns the socket, however late.
	got := Decide(Input{Agents: []Agent{c, a, b}})
	check(t, got, want{pending, "", "tcp 0.0.0.0:80 -> 172.28.240.53:80"})
	if got[0].AgentID != "b" || got[0].Distro != "Debian" || got[0].Listener.GetPid() != 42 {
		t.Errorf("owner = %s/%s, want b/Debian", got[0].AgentID, got[0].Distro)
	}
	// Nobody sees it: the earliest connected agent.
	b.Listeners = []*wslfwdv1.Listener{shared(0)}
	got = Decide(Input{Agents: []Agent{c, b, a}})
	check(t, got, want{pending, "", ""})
	if got[0].AgentID != "a" {
		t.Errorf("owner = %s, want a (earliest)", got[0].AgentID)
	}
	// Same connection time: the lower ID.
	c.ConnectedAt = t0
	got = Decide(Input{Agents: []Agent{c, b, a}})
	if len(got) != 1 || got[0].AgentID != "a" {
		t.Fatalf("owner among ties:\n%s", dump(got))
	}
	// A different inode is a different socket (SO_REUSEPORT): both decided,
	// and they want the same forward, so they share it: the earlier
	// agent's wants it, the other's is carried by it.
	other := shared(0)
	other.Inode = 778
	b.Listeners = []*wslfwdv1.Listener{other}
	got = Decide(Input{Agents: []Agent{a, b}})
	check(t, got, want{pending, "forwarded by Ubuntu's listener on 0.0.0.0:80", "tcp 0.0.0.0:80 -> 172.28.240.53:80"},
		want{pending, "", "tcp 0.0.0.0:80 -> 172.28.240.53:80"})
}

// A socket is one only among agents whose connections prove they share a
// network namespace: an agent from another address that reports the same
// socket, process and all, does not take it over; the two are two
// sockets, in conflict for the host port.
func TestSharedSocketsOnlyWithinANamespace(t *testing.T) {
	victim := agent("a", "Ubuntu", nat, &wslfwdv1.Listener{Protocol: tcp, Listen: "0.0.0.0", Port: 80, Inode: 777})
	claim := agent("b", "Evil", nat, &wslfwdv1.Listener{Protocol: tcp, Listen: "0.0.0.0", Port: 80, Inode: 777, Pid: 1, ProcessName: "nginx"})
	claim.Targets = []netip.Addr{netip.MustParseAddr("172.28.240.99")}
	claim.ConnectedAt = t0.Add(time.Second)
	got := Decide(Input{Agents: []Agent{victim, claim}})
	if len(got) != 2 {
		t.Fatalf("decisions:\n%s\nwant one per agent's socket", dump(got))
	}
	for _, dc := range got {
		if dc.AgentID == "a" && (!dc.Want || dc.Entry.Connect.Addr() != distro4) {
			t.Errorf("the victim's socket: %+v, want its forward, to its own address", dc)
		}
		if dc.AgentID == "b" && dc.Want {
			t.Errorf("the later claim of the same socket wants the forward: %+v", dc)
		}
	}
}

// Exposing a port its listener already has forwarded: the static takes
// the forward over, and the listener is carried by it, so the forward is
// wanted, and listed, once.
func TestStaticOverListenerIsOneForward(t *testing.T) {
	a := agent("a", "Ubuntu", nat, lst(tcp, "0.0.0.0", 8000))
	st := Static{Protocol: backend.TCP, Port: 8000, Distro: "Ubuntu", Origin: wslfwdv1.ForwardOrigin_FORWARD_ORIGIN_STATIC}
	got := Decide(Input{Agents: []Agent{a}, Statics: []Static{st}})
	// Sorted by origin: the listener's (AGENT) before the static's.
	check(t, got,
		want{pending, "forwarded by the static forward to Ubuntu port 8000", "tcp 0.0.0.0:8000 -> 172.28.240.53:8000"},
		want{pending, "", "tcp 0.0.0.0:8000 -> 172.28.240.53:8000"})
	if got[0].Listener == nil || got[1].Static == nil {
		t.Errorf("want the listener's decision carried by the static's:\n%s", dump(got))
	}
}

func TestConflicts(t *testing.T) {
	// Two distros (separate VMs' view, e.g. different addresses) want host port 80.
	a := agent("a", "Ubuntu", nat, lst(tcp, "0.0.0.0", 80))
	b := agent("b", "Debian", nat, lst(tcp, "0.0.0.0", 80))
	b.Listeners[0].Inode = 999 // another VM's socket
	b.Targets = []netip.Addr{netip.MustParseAddr("172.28.240.54")}
	b.ConnectedAt = t0.Add(time.Second)
	got := Decide(Input{Agents: []Agent{b, a}})
	// Sorted by host side, then origin and distro: Debian first.
	check(t, got,
		want{conflict, "host tcp 0.0.0.0:80 is already wanted by Ubuntu's listener on 0.0.0.0:80 (to 172.28.240.53:80)", "tcp 0.0.0.0:80 -> 172.28.240.54:80"},
		want{pending, "", "tcp 0.0.0.0:80 -> 172.28.240.53:80"})
	if got[0].AgentID != "b" {
		t.Errorf("loser = %s, want b", got[0].AgentID)
	}

	// A static beats an agent's listener, even an earlier one.
	st := Static{Protocol: backend.TCP, Port: 8080, HostPort: 80, Distro: "Debian", Origin: wslfwdv1.ForwardOrigin_FORWARD_ORIGIN_STATIC}
	got = Decide(Input{Agents: []Agent{a, b}, Statics: []Static{st}})
	check(t, got,
		want{conflict, "already wanted by the static forward to Debian port 8080", "tcp 0.0.0.0:80 -> 172.28.240.54:80"},
		want{conflict, "already wanted by the static forward to Debian port 8080", "tcp 0.0.0.0:80 -> 172.28.240.53:80"},
		want{pending, "", "tcp 0.0.0.0:80 -> 172.28.240.54:8080"})

	// A config forward beats a static one; two statics: the earlier wins.
	cfg := config.Default()
	cfg.Forwards = []config.StaticForward{{Protocol: backend.TCP, Port: 9000, HostPort: 80, Distro: "Ubuntu"}}
	st2 := st
	st2.Port = 8081
	got = Decide(Input{Agents: []Agent{a, b}, Statics: []Static{st, st2}, Config: cfg})
	var wins []string
	for _, d := range got {
		if d.Want {
			wins = append(wins, d.Entry.String())
		}
	}
	if len(wins) != 1 || wins[0] != "tcp 0.0.0.0:80 -> 172.28.240.53:9000" {
		t.Fatalf("winners %q, want only the config forward:\n%s", wins, dump(got))
	}
	for _, d := range got {
		if !d.Want && (d.State != conflict || !strings.Contains(d.Reason, "the config forward to Ubuntu port 9000")) {
			t.Errorf("loser %v %q", d.State, d.Reason)
		}
	}

	// A specific host address overlaps the any address of its family only.
	s1 := Static{Protocol: backend.TCP, Port: 1, HostPort: 80, Distro: "Debian", ListenAddr: netip.MustParseAddr("10.2.3.1"), Origin: wslfwdv1.ForwardOrigin_FORWARD_ORIGIN_STATIC}
	s2 := Static{Protocol: backend.TCP, Port: 2, HostPort: 80, Distro: "Debian", ListenAddr: netip.MustParseAddr("127.0.0.1"), Origin: wslfwdv1.ForwardOrigin_FORWARD_ORIGIN_STATIC}
	s3 := Static{Protocol: backend.TCP, Port: 3, HostPort: 80, Distro: "Debian", ListenAddr: netip.MustParseAddr("::"), Origin: wslfwdv1.ForwardOrigin_FORWARD_ORIGIN_STATIC}
	s4 := Static{Protocol: backend.UDP, Port: 4, HostPort: 80, Distro: "Debian", Origin: wslfwdv1.ForwardOrigin_FORWARD_ORIGIN_STATIC}
	got = Decide(Input{Agents: []Agent{a, b}, Statics: []Static{s1, s2, s3, s4}})
	check(t, got,
		want{conflict, "already wanted by the static forward to Debian port 1", "tcp 0.0.0.0:80 -> 172.28.240.54:80"},
		want{conflict, "already wanted by the static forward to Debian port 1", "tcp 0.0.0.0:80 -> 172.28.240.53:80"},
		want{pending, "", "tcp 10.2.3.1:80 -> 172.28.240.54:1"},
		want{pending, "", "tcp 127.0.0.1:80 -> 172.28.240.54:2"},
		want{pending, "", "tcp [::]:80 -> 172.28.240.54:3"},
		want{pending, "", "udp 0.0.0.0:80 -> 172.28.240.54:4"})
}

func TestStatics(t *testing.T) {
	a := agent("a", "Ubuntu", nat)
	m := agent("m", "Mirror", wslfwdv1.NetworkingMode_NETWORKING_MODE_MIRRORED)
	br := agent("br", "Bridge", wslfwdv1.NetworkingMode_NETWORKING_MODE_BRIDGED)
	noaddr := agent("n", "NoAddr", nat)
	noaddr.Targets = nil
	s := func(p backend.Protocol, port, hp uint16, distro string) Static {
		return Static{Protocol: p, Port: port, HostPort: hp, Distro: distro, Origin: wslfwdv1.ForwardOrigin_FORWARD_ORIGIN_STATIC}
	}
	cfg := config.Default()
	cfg.AllowPorts = []config.PortRange{{First: 1, Last: 10}}
	cfg.UDP = false
	for _, tc := range []struct {
		name string
		s    Static
		want want
	}{
		{"plain, exempt from allow list", s(backend.TCP, 5432, 15432, "Ubuntu"), want{pending, "", "tcp 0.0.0.0:15432 -> 172.28.240.53:5432"}},
		{"host port defaults to port", s(backend.TCP, 5432, 0, "Ubuntu"), want{pending, "", "tcp 0.0.0.0:5432 -> 172.28.240.53:5432"}},
		{"no agent", s(backend.TCP, 1, 0, "Gone"), want{blocked, "distro Gone has no agent", ""}},
		{"mirrored", s(backend.TCP, 1, 0, "Mirror"), want{direct, "shares the host's addresses", ""}},
		{"mirrored, its own port as host port", s(backend.TCP, 3000, 3000, "Mirror"), want{direct, "shares the host's addresses", ""}},
		{"mirrored, another host port", s(backend.TCP, 3000, 8080, "Mirror"), want{blocked, "host port 8080 would need a forward", ""}},
		{"bridged", s(backend.TCP, 1, 0, "Bridge"), want{blocked, "networking mode bridged is not supported", ""}},
		{"no address", s(backend.TCP, 1, 0, "NoAddr"), want{blocked, "no IPv4 address", ""}},
		{"denied", s(backend.TCP, 1, 445, "Ubuntu"), want{blocked, "port 445 is in the deny list", ""}},
		{"reserved", s(backend.TCP, 1, 17810, "Ubuntu"), want{blocked, "daemon's own port", ""}},
		{"denied, no agent", s(backend.TCP, 1, 445, "Gone"), want{blocked, "port 445 is in the deny list", ""}},
		{"denied, mirrored", s(backend.TCP, 445, 0, "Mirror"), want{blocked, "port 445 is in the deny list", ""}},
		{"udp off, no agent", s(backend.UDP, 53, 0, "Gone"), want{blocked, "UDP forwarding is off", ""}},
		{"udp off", s(backend.UDP, 53, 0, "Ubuntu"), want{blocked, "UDP forwarding is off", ""}},
		{"bad protocol", s("sctp", 53, 0, "Ubuntu"), want{blocked, "invalid static forward", ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Decide(Input{Agents: []Agent{a, m, br, noaddr}, Statics: []Static{tc.s}, Config: cfg, ReservedPorts: []uint16{17810}})
			check(t, got, tc.want)
			if got[0].Static == nil || *got[0].Static != tc.s || got[0].Listener != nil {
				t.Errorf("decision does not carry its static: %+v", got[0])
			}
		})
	}
	// Without an agent the host side is still known, the target is not.
	got := Decide(Input{Statics: []Static{s(backend.TCP, 1, 2, "Gone")}})
	if e := got[0].Entry; e.Listen != netip.MustParseAddrPort("0.0.0.0:2") || e.Connect.IsValid() {
		t.Errorf("entry of an agentless static = %v", e)
	}
	// Config forwards are read from the config, with origin CONFIG.
	cfg = config.Default()
	cfg.Forwards = []config.StaticForward{{Protocol: backend.TCP, Port: 22, Distro: "Ubuntu", ListenAddress: netip.MustParseAddr("127.0.0.1")}}
	got = Decide(Input{Agents: []Agent{a}, Config: cfg})
	check(t, got, want{pending, "", "tcp 127.0.0.1:22 -> 172.28.240.53:22"})
	if got[0].Origin != wslfwdv1.ForwardOrigin_FORWARD_ORIGIN_CONFIG {
		t.Errorf("origin = %v", got[0].Origin)
	}
}

func TestDeterministicOrder(t *testing.T) {
	a := agent("a", "Ubuntu", nat, lst(udp, "0.0.0.0", 53), lst(tcp, "0.0.0.0", 443), lst(tcp, "127.0.0.1", 5), lst(tcp, "0.0.0.0", 80))
	b := agent("b", "Debian", wslfwdv1.NetworkingMode_NETWORKING_MODE_MIRRORED, lst(tcp, "0.0.0.0", 22))
	st := Static{Protocol: backend.TCP, Port: 1, HostPort: 100, Distro: "Ubuntu", Origin: wslfwdv1.ForwardOrigin_FORWARD_ORIGIN_STATIC}
	first := Decide(Input{Agents: []Agent{a, b}, Statics: []Static{st}})
	var got []string
	for _, d := range first {
		got = append(got, fmt.Sprintf("%s %s", d.Entry.Protocol, d.Reason))
	}
	for i := 0; i < 20; i++ {
		again := Decide(Input{Agents: []Agent{b, a}, Statics: []Static{st}})
		if dump(again) != dump(first) {
			t.Fatalf("order changed:\n%s\nvs\n%s", dump(first), dump(again))
		}
	}
	var ports []uint16
	for _, d := range first {
		_, p, _ := d.hostSide()
		ports = append(ports, p)
	}
	wantPorts := []uint16{5, 22, 80, 100, 443, 53}
	if fmt.Sprint(ports) != fmt.Sprint(wantPorts) {
		t.Errorf("ports in order %v, want %v (%q)", ports, wantPorts, got)
	}
}

func BenchmarkDecide1000(b *testing.B) {
	ls := make([]*wslfwdv1.Listener, 1000)
	for i := range ls {
		ls[i] = &wslfwdv1.Listener{Protocol: tcp, Listen: "0.0.0.0", Port: uint32(10000 + i), Inode: uint64(i), Pid: 1}
	}
	// Two agents in the shared namespace both report all of them.
	in := Input{Agents: []Agent{agent("a", "Ubuntu", nat, ls...), agent("b", "Debian", nat, ls...)}, ReservedPorts: []uint16{17810}}
	b.ReportAllocs()
	for b.Loop() {
		if ds := Decide(in); len(ds) != 1000 {
			b.Fatalf("%d decisions", len(ds))
		}
	}
}

func TestIPv6ExposureFollowsLoopbackExpose(t *testing.T) {
	cfg := config.Default()
	cfg.IPv6 = true
	cfg.ExposeAddress = "127.0.0.1"
	check(t, one(t, cfg, lst(tcp, "0.0.0.0", 80)),
		want{pending, "", "tcp 127.0.0.1:80 -> 172.28.240.53:80"}, want{pending, "", "tcp [::1]:80 -> 172.28.240.53:80"})
}

// Portproxy never listens on loopback (WSL's localhost relay holds
// 127.0.0.1:N and [::1]:N): an expose address or a static forward on
// loopback is blocked with the reason, whether the backend is named by the
// daemon or only by the config. The relay may listen there.
func TestPortproxyRefusesLoopback(t *testing.T) {
	const why = "portproxy does not listen on loopback"
	loop := netip.MustParseAddr("127.0.0.1")
	for _, tc := range []struct {
		name    string
		backend string // Input.Backend
		cfgBack string // config's backend
		ipv6    bool
		expose  netip.Addr
		static  netip.Addr // a static forward's listen address; zero: a listener
		want    []want
	}{
		{"portproxy expose loopback", "portproxy", "", false, loop, netip.Addr{},
			[]want{{blocked, why + " (127.0.0.1)", "tcp 127.0.0.1:80 -> 172.28.240.53:80"}}},
		{"portproxy from config", "", "portproxy", false, loop, netip.Addr{},
			[]want{{blocked, why, "tcp 127.0.0.1:80 -> 172.28.240.53:80"}}},
		{"portproxy expose loopback ipv6", "portproxy", "", true, loop, netip.Addr{},
			[]want{{blocked, why + " (127.0.0.1)", ""}, {blocked, why + " (::1)", "tcp [::1]:80 -> 172.28.240.53:80"}}},
		{"portproxy static on loopback", "portproxy", "", false, netip.Addr{}, loop,
			[]want{{blocked, why, "tcp 127.0.0.1:80 -> 172.28.240.53:80"}}},
		{"portproxy static on other loopback", "portproxy", "", false, netip.Addr{}, netip.MustParseAddr("127.0.0.2"),
			[]want{{blocked, why, ""}}},
		{"portproxy any address", "portproxy", "", false, netip.Addr{}, netip.Addr{},
			[]want{{pending, "", "tcp 0.0.0.0:80 -> 172.28.240.53:80"}}},
		{"daemon's backend wins over config", "relay", "portproxy", false, loop, netip.Addr{},
			[]want{{pending, "", "tcp 127.0.0.1:80 -> 172.28.240.53:80"}}},
		{"relay on loopback", "relay", "", false, loop, netip.Addr{},
			[]want{{pending, "", "tcp 127.0.0.1:80 -> 172.28.240.53:80"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config.Default()
			cfg.IPv6, cfg.Backend = tc.ipv6, tc.cfgBack
			in := Input{Config: cfg, Backend: tc.backend, ExposeAddr: tc.expose}
			if tc.static.IsValid() {
				in.Agents = []Agent{agent("a1", "Ubuntu", nat)}
				in.Statics = []Static{{Protocol: backend.TCP, Port: 80, Distro: "Ubuntu", ListenAddr: tc.static,
					Origin: wslfwdv1.ForwardOrigin_FORWARD_ORIGIN_STATIC}}
			} else {
				in.Agents = []Agent{agent("a1", "Ubuntu", nat, lst(tcp, "0.0.0.0", 80))}
			}
			check(t, Decide(in), tc.want...)
		})
	}
}

// A listener over its VM's cap of ports is blocked, saying so and naming
// the cap, before any other rule (a mirrored agent's would be DIRECT and
// open a firewall rule); the agent's other listeners are decided as ever.
func TestCappedListenersAreBlocked(t *testing.T) {
	kept, over := lst(tcp, "0.0.0.0", 80), lst(tcp, "0.0.0.0", 81)
	for _, mode := range []wslfwdv1.NetworkingMode{nat, wslfwdv1.NetworkingMode_NETWORKING_MODE_MIRRORED} {
		a := agent("a1", "Ubuntu", mode, kept, over)
		a.Capped = []*wslfwdv1.Listener{over}
		got := Decide(Input{Agents: []Agent{a}, PortCap: 4096})
		first := want{state: pending}
		if mode != nat {
			first = want{state: direct, reason: "shares the host"}
		}
		check(t, got, first, want{state: blocked, reason: "over the VM's cap: its agents already report 4096 other ports"})
	}
}

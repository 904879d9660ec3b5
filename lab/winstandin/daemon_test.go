package winstandin_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/wslfwd/wslfwd/hostd-windows/backend"
	"github.com/wslfwd/wslfwd/hostd-windows/firewall"
	"github.com/wslfwd/wslfwd/hostd-windows/portproxy"
	"github.com/wslfwd/wslfwd/internal/winexec"
	"github.com/wslfwd/wslfwd/lab/winstandin/netsh"
	"github.com/wslfwd/wslfwd/lab/winstandin/powershell"
	"github.com/wslfwd/wslfwd/lab/winstandin/state"
)

// host runs the daemon's real firewall and portproxy code against the
// stand-ins in this process, over one store: the same strictness as under
// Wine, in milliseconds and without root. noHyperV plays a Windows without
// the Hyper-V firewall.
type host struct {
	st       *state.Memory
	noHyperV bool
}

// Netsh runs a script as `netsh -f` does, with the exit status appended
// as winexec.Output appends it.
func (h host) Netsh(_ context.Context, script string) ([]byte, error) {
	tool := netsh.Tool{Store: h.st, ReadFile: func(string) ([]byte, error) { return []byte(script), nil }}
	out, code := tool.Run([]string{"-f", "script.txt"})
	return withStatus(out, code), nil
}

// PowerShell runs a script from the command line the daemon would use.
func (h host) PowerShell(_ context.Context, script string) ([]byte, error) {
	out, errOut, code := powershell.Shell{Store: h.st, NoHyperV: h.noHyperV}.Run(winexec.PowerShellArgs(script))
	return withStatus(out+errOut, code), nil
}

// Run is the portproxy backend's runner.
func (h host) Run(ctx context.Context, script string) ([]byte, error) { return h.Netsh(ctx, script) }

// Read is the portproxy backend's store: the registry values as kept.
func (h host) Read() ([]portproxy.Value, error) {
	var out []portproxy.Value
	for _, k := range portproxy.Kinds {
		vs, err := h.st.Values(string(k))
		if err != nil {
			return nil, err
		}
		for _, v := range vs {
			out = append(out, portproxy.Value{Kind: k, Name: v.Name, Data: v.Data})
		}
	}
	return out, nil
}

func withStatus(out string, code int) []byte {
	if code != 0 {
		out += fmt.Sprintf("\r\n(exit status %d)", code)
	}
	return []byte(out)
}

func ruleCount(t *testing.T, st *state.Memory, table state.Table, name string) int {
	t.Helper()
	rs, err := st.Rules(table)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range rs {
		if r["name"] == name {
			n++
		}
	}
	return n
}

// TestDaemonRuleOnFirstInstallAndAgain: on a host with no rule the
// daemon's rule is made (a delete of the absent rule in the same script
// would stop it), and making it again, for another address too (added
// beside the old rule, then renamed with netsh set rule), leaves exactly
// one.
func TestDaemonRuleOnFirstInstallAndAgain(t *testing.T) {
	h := host{st: state.NewMemory()}
	fw := firewall.New(h, nil)
	for _, addr := range []string{"172.28.240.1", "172.28.240.1", "172.30.0.1"} {
		if err := fw.SetDaemonRule(t.Context(), netip.MustParseAddr(addr), 17810); err != nil {
			t.Fatalf("SetDaemonRule(%s): %v", addr, err)
		}
		if n, next := ruleCount(t, h.st, state.Windows, firewall.DaemonRuleName), ruleCount(t, h.st, state.Windows, firewall.DaemonRuleNext); n != 1 || next != 0 {
			t.Fatalf("after SetDaemonRule(%s): %d daemon rules and %d under the interim name, want 1 and 0", addr, n, next)
		}
	}
	rs, _ := h.st.Rules(state.Windows)
	if rs[0]["localip"] != "172.30.0.1" {
		t.Errorf("the daemon's rule allows %s, want the last address", rs[0]["localip"])
	}
}

// TestSyncKeepsExactlyItsRules: in both firewalls, Sync adds the wanted
// rules, removes its own unwanted ones, and leaves a user's rule alone.
func TestSyncKeepsExactlyItsRules(t *testing.T) {
	h := host{st: state.NewMemory()}
	h.st.SetRules(state.Windows, []state.Rule{{"name": "user rule", "dir": "in", "action": "allow"}})
	fw := firewall.New(h, nil)
	var want []firewall.Rule
	for _, k := range []firewall.Kind{firewall.Windows, firewall.HyperV} {
		for _, p := range []uint16{80, 443} {
			want = append(want, firewall.Rule{Kind: k, Protocol: backend.TCP, Port: p})
		}
	}
	for range 2 { // the second Sync has nothing to do
		if err := fw.Sync(t.Context(), want); err != nil {
			t.Fatalf("Sync: %v", err)
		}
	}
	for _, r := range want {
		if n := ruleCount(t, h.st, state.Table(r.Kind), r.Name()); n != 1 {
			t.Errorf("%v: %d rules, want 1", r, n)
		}
	}
	if err := fw.Sync(t.Context(), nil); err != nil {
		t.Fatalf("Sync(nothing): %v", err)
	}
	for _, r := range want {
		if n := ruleCount(t, h.st, state.Table(r.Kind), r.Name()); n != 0 {
			t.Errorf("%v: %d rules left, want 0", r, n)
		}
	}
	if n := ruleCount(t, h.st, state.Windows, "user rule"); n != 1 {
		t.Errorf("the user's rule: %d, want 1", n)
	}
}

// TestSyncRemakesAlteredRules: a rule of wslfwd's disabled or set to
// Block by hand (netsh set rule, in the Windows firewall; the store, in
// the Hyper-V firewall, whose Set- cmdlet the stand-in does not run) is
// remade by the next Sync of the same rules, and is one rule again.
func TestSyncRemakesAlteredRules(t *testing.T) {
	h := host{st: state.NewMemory()}
	fw := firewall.New(h, nil)
	win := firewall.Rule{Kind: firewall.Windows, Protocol: backend.TCP, Port: 80}
	hv := firewall.Rule{Kind: firewall.HyperV, Protocol: backend.TCP, Port: 81}
	if err := fw.Sync(t.Context(), []firewall.Rule{win, hv}); err != nil {
		t.Fatal(err)
	}
	if out, _ := h.Netsh(t.Context(), `advfirewall firewall set rule name="wslfwd tcp/80" new enable=no`+"\r\n"); !strings.Contains(string(out), "Updated 1 rule(s).") {
		t.Fatalf("netsh set rule: %s", out)
	}
	rs, _ := h.st.Rules(state.HyperV)
	rs[0]["action"] = "Block"
	h.st.SetRules(state.HyperV, rs)
	if err := fw.Sync(t.Context(), []firewall.Rule{win, hv}); err != nil {
		t.Fatalf("Sync after the rules were altered: %v", err)
	}
	for table, want := range map[state.Table]map[string]string{
		state.Windows: {"name": win.Name(), "enable": "", "action": "allow"},
		state.HyperV:  {"name": hv.Name(), "action": "Allow"},
	} {
		rs, _ := h.st.Rules(table)
		if len(rs) != 1 {
			t.Fatalf("%s: rules = %v, want one", table, rs)
		}
		for k, v := range want {
			if rs[0][k] != v {
				t.Errorf("%s: rule %v, want %s=%q", table, rs[0], k, v)
			}
		}
	}
}

// TestSyncLeavesHyperVRulesOfOtherNames: a Hyper-V rule whose display
// name is wslfwd's but whose Name is not, or the other way round, is a
// user's: Sync removes by -Name, and never touches it.
func TestSyncLeavesHyperVRulesOfOtherNames(t *testing.T) {
	h := host{st: state.NewMemory()}
	fw := firewall.New(h, nil)
	if err := fw.Sync(t.Context(), []firewall.Rule{{Kind: firewall.HyperV, Protocol: backend.TCP, Port: 80}, {Kind: firewall.HyperV, Protocol: backend.TCP, Port: 81}}); err != nil {
		t.Fatal(err)
	}
	rs, _ := h.st.Rules(state.HyperV)
	rs[0]["name"], rs[1]["displayname"] = "user-1", "user rule"
	h.st.SetRules(state.HyperV, rs)
	if err := fw.Sync(t.Context(), nil); err != nil {
		t.Fatalf("Sync(nothing): %v", err)
	}
	if after, _ := h.st.Rules(state.HyperV); len(after) != 2 {
		t.Errorf("rules = %v, want both users' rules", after)
	}
}

// TestSyncWithoutHyperVFirewall: on a Windows without the Hyper-V
// firewall, the Hyper-V firewall lists no rules, so the Windows
// firewall's are kept as ever, and a Hyper-V rule wanted fails in words.
func TestSyncWithoutHyperVFirewall(t *testing.T) {
	h := host{st: state.NewMemory(), noHyperV: true}
	fw := firewall.New(h, nil)
	win := firewall.Rule{Kind: firewall.Windows, Protocol: backend.TCP, Port: 80}
	for range 2 {
		if err := fw.Sync(t.Context(), []firewall.Rule{win}); err != nil {
			t.Fatalf("Sync: %v", err)
		}
	}
	if got, err := fw.Rules(t.Context()); err != nil || len(got) != 1 || got[0] != win {
		t.Fatalf("Rules = %v, %v; want %v", got, err, win)
	}
	err := fw.Sync(t.Context(), []firewall.Rule{win, {Kind: firewall.HyperV, Protocol: backend.TCP, Port: 81}})
	if err == nil || !strings.Contains(err.Error(), "is not recognized") {
		t.Fatalf("Sync of a Hyper-V rule without the Hyper-V firewall = %v", err)
	}
	if n := ruleCount(t, h.st, state.Windows, win.Name()); n != 1 {
		t.Errorf("%v: %d rules, want 1", win, n)
	}
}

func entry(listen, connect string) backend.Entry {
	return backend.Entry{Protocol: backend.TCP, Listen: netip.MustParseAddrPort(listen), Connect: netip.MustParseAddrPort(connect)}
}

// TestPortproxyBackendAgainstStandin: the backend adds and removes its
// entries in one script where it can, and a user's values, parsable or
// not, are never changed, even at a key the daemon wants.
func TestPortproxyBackendAgainstStandin(t *testing.T) {
	h := host{st: state.NewMemory()}
	h.st.SetValue("v4tov4", "0.0.0.0/5555", "10.0.0.1/5555")
	h.st.SetValue("v4tov4", "0.0.0.0/8081", "wsl-host/8081")
	be := portproxy.New(h, h, portproxy.Options{})
	a, b := entry("0.0.0.0:8080", "172.28.240.53:8080"), entry("0.0.0.0:9090", "172.28.240.53:9090")
	if err := be.Apply(t.Context(), backend.Batch{Add: []backend.Entry{a, b}}); err != nil {
		t.Fatalf("add: %v", err)
	}
	blocked := entry("0.0.0.0:8081", "172.28.240.53:8081")
	err := be.Apply(t.Context(), backend.Batch{Remove: []backend.Entry{a}, Add: []backend.Entry{blocked}})
	var ae *backend.ApplyError
	if !errors.As(err, &ae) || len(ae.Failures) != 1 || !errors.Is(ae.Failures[0].Err, backend.ErrPortInUse) {
		t.Errorf("add at the key of a user's unparsable value: %v, want one ErrPortInUse", err)
	}
	vs, _ := h.st.Values("v4tov4")
	want := []state.Value{
		{Name: "0.0.0.0/5555", Data: "10.0.0.1/5555"},
		{Name: "0.0.0.0/8081", Data: "wsl-host/8081"},
		{Name: "0.0.0.0/9090", Data: "172.28.240.53/9090"},
	}
	if fmt.Sprint(vs) != fmt.Sprint(want) {
		t.Errorf("registry = %v, want %v", vs, want)
	}
}

// userRule adds an inbound rule as a user does, with netsh's command line.
func userRule(t *testing.T, h host, name, action, port, profile string) {
	t.Helper()
	tool := netsh.Tool{Store: h.st}
	out, code := tool.Run([]string{"advfirewall", "firewall", "add", "rule", "name=" + name, "dir=in",
		"action=" + action, "protocol=TCP", "localport=" + port, "profile=" + profile})
	if code != 0 || !strings.Contains(out, "Ok.") {
		t.Fatalf("netsh add rule %s: code %d, %q", name, code, out)
	}
}

// TestAuditAgainstStandin: with firewall = false the daemon's audit,
// answered by the stand-in from the rules netsh keeps, names a forwarded
// port until a user's rule allows it in a profile in force (the host is
// on a Private network), and again once a user's rule blocks it.
func TestAuditAgainstStandin(t *testing.T) {
	h := host{st: state.NewMemory()}
	fw := firewall.New(h, nil)
	wanted := []firewall.Rule{{Kind: firewall.Windows, Protocol: backend.TCP, Port: 8080}}
	blocked := func(want bool, after string) {
		t.Helper()
		got, err := fw.Blocked(t.Context(), wanted)
		if err != nil || (len(got) == 1) != want {
			t.Fatalf("after %s: Blocked = %v, %v; want blocked %v", after, got, err, want)
		}
	}
	blocked(true, "no rule")
	userRule(t, h, "public only", "allow", "8080", "public")
	blocked(true, "an allow rule of the Public profile")
	userRule(t, h, "LAN 8080", "allow", "8000-8100", "private,domain")
	blocked(false, "an allow rule of the Private and Domain profiles")
	userRule(t, h, "no 8080", "block", "8080", "any")
	blocked(true, "a block rule")

	hv := firewall.Rule{Kind: firewall.HyperV, Protocol: backend.TCP, Port: 8080}
	if got, err := fw.Blocked(t.Context(), []firewall.Rule{hv}); err != nil || len(got) != 1 {
		t.Fatalf("Hyper-V, no rule: Blocked = %v, %v", got, err)
	}
	if err := fw.Sync(t.Context(), []firewall.Rule{hv}); err != nil {
		t.Fatal(err)
	}
	if got, err := fw.Blocked(t.Context(), []firewall.Rule{hv}); err != nil || len(got) != 0 {
		t.Fatalf("Hyper-V, with the daemon's own rule: Blocked = %v, %v", got, err)
	}
}

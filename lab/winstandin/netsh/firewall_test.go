package netsh

import (
	"strings"
	"testing"

	"github.com/wslfwd/wslfwd/lab/winstandin/state"
)

func rules(t *testing.T, st *state.Memory) []state.Rule {
	t.Helper()
	rs, err := st.Rules(state.Windows)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

const addDaemonRule = `advfirewall firewall add rule name="wslfwd daemon (gRPC from WSL)" dir=in action=allow protocol=TCP localport=17810 localip=172.28.240.1`

func TestAddRuleKeepsItAndAllowsDuplicates(t *testing.T) {
	tool, st := newTool(map[string]string{"s": addDaemonRule + "\r\n" + addDaemonRule + "\r\n"})
	out, code := tool.Run([]string{"-f", "s"})
	if code != 0 || strings.Count(out, "Ok.") != 2 {
		t.Fatalf("code %d, out %q", code, out)
	}
	rs := rules(t, st)
	if len(rs) != 2 || rs[0]["name"] != "wslfwd daemon (gRPC from WSL)" || rs[0]["localport"] != "17810" || rs[0]["localip"] != "172.28.240.1" {
		t.Errorf("rules = %v", rs)
	}
}

func TestDeleteRuleOfAbsentNameFails(t *testing.T) {
	tool, _ := newTool(map[string]string{"s": `advfirewall firewall delete rule name="wslfwd tcp/80"` + "\r\n" + addDaemonRule + "\r\n"})
	out, code := tool.Run([]string{"-f", "s"})
	if code != 1 || !strings.Contains(out, "No rules match the specified criteria.") {
		t.Fatalf("code %d, out %q", code, out)
	}
	if strings.Contains(out, "Ok.") {
		t.Errorf("the script went on past the failing delete: %q", out)
	}
}

func TestDeleteRuleSelectsByEveryGivenValue(t *testing.T) {
	tool, st := newTool(nil)
	for _, l := range []string{
		`advfirewall firewall add rule name="wslfwd tcp/80" dir=in action=allow protocol=TCP localport=80`,
		`advfirewall firewall add rule name="wslfwd tcp/80" dir=in action=allow protocol=TCP localport=81`,
		`advfirewall firewall add rule name="user rule" dir=in action=allow protocol=TCP localport=80`,
	} {
		words, err := tokenize(l)
		if err != nil {
			t.Fatal(err)
		}
		if out, code := tool.Run(words); code != 0 {
			t.Fatalf("%s: code %d, out %q", l, code, out)
		}
	}
	words, _ := tokenize(`advfirewall firewall delete rule name="wslfwd tcp/80" dir=in protocol=TCP localport=80`)
	out, code := tool.Run(words)
	if code != 0 || !strings.Contains(out, "Deleted 1 rule(s).") {
		t.Fatalf("code %d, out %q", code, out)
	}
	rs := rules(t, st)
	if len(rs) != 2 || rs[0]["localport"] != "81" || rs[1]["name"] != "user rule" {
		t.Errorf("rules = %v", rs)
	}
}

func TestShowRule(t *testing.T) {
	tool, _ := newTool(map[string]string{"s": addDaemonRule + "\r\n"})
	tool.Run([]string{"-f", "s"})
	out, code := tool.Run([]string{"advfirewall", "firewall", "show", "rule", "name=wslfwd daemon (gRPC from WSL)"})
	if code != 0 || !strings.Contains(out, "Rule Name:                            wslfwd daemon (gRPC from WSL)") || !strings.Contains(out, "LocalPort:                            17810") {
		t.Errorf("show: code %d, out %q", code, out)
	}
	out, code = tool.Run([]string{"advfirewall", "firewall", "show", "rule", "name=nothing"})
	if code != 1 || !strings.Contains(out, "No rules match the specified criteria.") {
		t.Errorf("show of an absent rule: code %d, out %q", code, out)
	}
}

func TestTokenizeQuotes(t *testing.T) {
	got, err := tokenize(`add rule name="a b" dir=in`)
	if err != nil || strings.Join(got, "|") != "add|rule|name=a b|dir=in" {
		t.Errorf("tokenize = %q, %v", got, err)
	}
	if _, err := tokenize(`name="a b`); err == nil {
		t.Error("unbalanced quotes accepted")
	}
}

// set rule ... new changes what it selects, as a user disabling a rule
// does, and keeps each rule's Name; one selecting nothing fails.
func TestSetRule(t *testing.T) {
	tool, st := newTool(map[string]string{
		"add": addDaemonRule + "\r\n" + `advfirewall firewall add rule name="wslfwd tcp/80" dir=in action=allow protocol=TCP localport=80` + "\r\n",
		"set": `advfirewall firewall set rule name="wslfwd tcp/80" new enable=no action=block` + "\r\n",
		"bad": `advfirewall firewall set rule name="wslfwd tcp/81" new enable=no` + "\r\n",
	})
	if out, code := tool.Run([]string{"-f", "add"}); code != 0 {
		t.Fatalf("add: code %d, out %q", code, out)
	}
	id := rules(t, st)[1]["id"]
	if out, code := tool.Run([]string{"-f", "set"}); code != 0 || !strings.Contains(out, "Updated 1 rule(s).") {
		t.Fatalf("set: code %d, out %q", code, out)
	}
	rs := rules(t, st)
	if rs[1]["enable"] != "no" || rs[1]["action"] != "block" || rs[1]["id"] != id || rs[0]["enable"] != "" {
		t.Errorf("rules = %v", rs)
	}
	if rs[0]["id"] == "" || rs[0]["id"] == id {
		t.Errorf("rule Names %q and %q: want each its own", rs[0]["id"], id)
	}
	if out, code := tool.Run([]string{"-f", "bad"}); code != 1 || !strings.Contains(out, "No rules match") {
		t.Fatalf("set of an absent rule: code %d, out %q", code, out)
	}
}

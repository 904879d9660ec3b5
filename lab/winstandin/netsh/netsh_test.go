package netsh

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/wslfwd/wslfwd/lab/winstandin/state"
)

// newTool returns a tool over an empty store whose `-f` files are the
// given scripts, by name.
func newTool(scripts map[string]string) (Tool, *state.Memory) {
	st := state.NewMemory()
	return Tool{Store: st, ReadFile: func(name string) ([]byte, error) {
		s, ok := scripts[name]
		if !ok {
			return nil, errors.New("no such file")
		}
		return []byte(s), nil
	}}, st
}

func values(t *testing.T, st *state.Memory, kind string) []state.Value {
	t.Helper()
	vs, err := st.Values(kind)
	if err != nil {
		t.Fatal(err)
	}
	return vs
}

func TestAddWritesTheRegistryValueAsWindows(t *testing.T) {
	tool, st := newTool(nil)
	out, code := tool.Run(strings.Fields("interface portproxy add v4tov4 listenport=4000 listenaddress=0.0.0.0 connectport=4001 connectaddress=172.28.240.53 protocol=tcp"))
	if code != 0 || strings.TrimSpace(out) != "" {
		t.Fatalf("add: code %d, out %q", code, out)
	}
	out, code = tool.Run(strings.Fields("int portproxy add v6tov4 listenport=4000 listenaddress=:: connectaddress=172.28.240.53"))
	if code != 0 {
		t.Fatalf("add v6tov4: code %d, out %q", code, out)
	}
	if got := values(t, st, "v4tov4"); len(got) != 1 || got[0] != (state.Value{Name: "0.0.0.0/4000", Data: "172.28.240.53/4001"}) {
		t.Errorf("v4tov4 = %v", got)
	}
	// connectport defaults to listenport.
	if got := values(t, st, "v6tov4"); len(got) != 1 || got[0] != (state.Value{Name: "::/4000", Data: "172.28.240.53/4000"}) {
		t.Errorf("v6tov4 = %v", got)
	}
}

func TestDeleteOfAbsentEntryFails(t *testing.T) {
	tool, _ := newTool(nil)
	out, code := tool.Run(strings.Fields("interface portproxy delete v4tov4 listenport=4000 listenaddress=0.0.0.0"))
	if code != 1 || !strings.Contains(out, "The system cannot find the file specified.") {
		t.Fatalf("delete of an absent entry: code %d, out %q", code, out)
	}
}

func TestDeleteRemovesOnlyItsKey(t *testing.T) {
	tool, st := newTool(nil)
	st.SetValue("v4tov4", "0.0.0.0/4000", "10.0.0.1/4000")
	st.SetValue("v4tov4", "0.0.0.0/5555", "10.0.0.1/5555")
	if out, code := tool.Run(strings.Fields("interface portproxy delete v4tov4 listenport=4000 listenaddress=0.0.0.0 protocol=tcp")); code != 0 {
		t.Fatalf("delete: code %d, out %q", code, out)
	}
	if got := values(t, st, "v4tov4"); len(got) != 1 || got[0].Name != "0.0.0.0/5555" {
		t.Errorf("after delete: %v", got)
	}
}

// TestScriptStopsAtFirstFailingLine: the line after a failing delete is
// never run, and the script's exit code is the failing line's.
func TestScriptStopsAtFirstFailingLine(t *testing.T) {
	tool, st := newTool(map[string]string{`C:\s.txt`: "interface portproxy add v4tov4 listenport=1 connectaddress=10.0.0.1\r\n" +
		"interface portproxy delete v4tov4 listenport=2 listenaddress=0.0.0.0\r\n" +
		"interface portproxy add v4tov4 listenport=3 connectaddress=10.0.0.1\r\n"})
	out, code := tool.Run([]string{"-f", `C:\s.txt`})
	if code != 1 || !strings.Contains(out, "cannot find the file") {
		t.Fatalf("code %d, out %q", code, out)
	}
	if got := values(t, st, "v4tov4"); len(got) != 1 || got[0].Name != "*/1" {
		t.Errorf("values = %v, want only the first line's */1", got)
	}
}

// TestSyntaxErrorPrintsUsageExitsZeroAndStopsScript: a malformed line
// says so, exits 0, and still ends the script.
func TestSyntaxErrorPrintsUsageExitsZeroAndStopsScript(t *testing.T) {
	for _, bad := range []string{
		"interface portproxy add v4tov4 listenport=1",                                      // no connectaddress
		"interface portproxy add v4tov4 1 10.0.0.1",                                        // positional form
		"interface portproxy add v4tov4 listenport=1 connectaddress=10.0.0.1 bogus=1",      // unknown tag
		"interface portproxy add v4tov4 listenport=1 connectaddress=10.0.0.1 protocol=udp", // TCP only
		"interface portproxy add v9tov9 listenport=1 connectaddress=10.0.0.1",
		`advfirewall firewall add rule name="x" dir=in`,                         // no action
		"advfirewall firewall add rule name=x dir=in action=allow localport=80", // port without protocol
		"advfirewall firewall add rule name=x dir=in action=allow profile=home", // no such profile
	} {
		tool, st := newTool(map[string]string{"s": bad + "\r\ninterface portproxy add v4tov4 listenport=9 connectaddress=10.0.0.9\r\n"})
		out, code := tool.Run([]string{"-f", "s"})
		if code != 0 || !strings.Contains(out, "Usage:") || !strings.Contains(out, "not valid") {
			t.Errorf("%q: code %d, out %q", bad, code, out)
		}
		if got := values(t, st, "v4tov4"); len(got) != 0 {
			t.Errorf("%q: the script went on past it: %v", bad, got)
		}
	}
}

func TestWrongFamilyIsRefused(t *testing.T) {
	tool, st := newTool(nil)
	out, code := tool.Run(strings.Fields("interface portproxy add v4tov4 listenport=1 connectaddress=fd00::1"))
	if code != 1 || !strings.Contains(out, "The parameter is incorrect.") {
		t.Fatalf("code %d, out %q", code, out)
	}
	if got := values(t, st, "v4tov4"); len(got) != 0 {
		t.Errorf("values = %v", got)
	}
}

func TestUnknownCommandFails(t *testing.T) {
	tool, _ := newTool(nil)
	out, code := tool.Run(strings.Fields("interface portproxy reset"))
	if code != 1 || !strings.Contains(out, "The following command was not found") {
		t.Fatalf("code %d, out %q", code, out)
	}
}

// TestShowAllLayout: the layout captured from an English Windows.
func TestShowAllLayout(t *testing.T) {
	tool, st := newTool(nil)
	st.SetValue("v4tov4", "192.168.226.64/2222", "10.4.226.215/22")
	st.SetValue("v4tov4", "0.0.0.0/30000-50000", "172.23.188.236/30000-50000")
	st.SetValue("v6tov4", "::/2222", "10.4.226.215/22")
	out, code := tool.Run(strings.Fields("interface portproxy show all"))
	if code != 0 {
		t.Fatalf("code %d", code)
	}
	want := "\r\nListen on ipv4:             Connect to ipv4:\r\n\r\n" +
		"Address         Port        Address         Port\r\n" +
		"--------------- ----------  --------------- ----------\r\n" +
		"192.168.226.64  2222        10.4.226.215    22\r\n" +
		"0.0.0.0         30000-50000  172.23.188.236  30000-50000\r\n\r\n" +
		"Listen on ipv6:             Connect to ipv4:\r\n\r\n" +
		"Address         Port        Address         Port\r\n" +
		"--------------- ----------  --------------- ----------\r\n" +
		"::              2222        10.4.226.215    22\r\n\r\n"
	if out != want {
		t.Errorf("show all:\n%q\nwant\n%q", out, want)
	}
}

func TestShowWithNoEntriesPrintsNoTable(t *testing.T) {
	tool, _ := newTool(nil)
	out, code := tool.Run(strings.Fields("interface portproxy show all"))
	if code != 0 || strings.TrimSpace(out) != "" {
		t.Errorf("code %d, out %q", code, out)
	}
}

func TestExcludedPortRangeHasNoRanges(t *testing.T) {
	tool, _ := newTool(nil)
	out, code := tool.Run(strings.Fields("interface ipv4 show excludedportrange protocol=tcp"))
	if code != 0 || !strings.Contains(out, "----------    --------\r\n\r\n") {
		t.Errorf("code %d, out %q", code, out)
	}
}

// A delete takes every value that names its socket, in any spelling: the
// harsher reading of netsh, whose matching is undocumented. Other
// sockets, and the same port in another table, stay.
func TestDeleteTakesEverySpellingOfItsSocket(t *testing.T) {
	tool, st := newTool(nil)
	for _, name := range []string{"0.0.0.0/4000", "*/4000", "0.0.0.0/04000", "10.0.0.2/4000", "0.0.0.0/5555", "bogus/4000"} {
		st.SetValue("v4tov4", name, "10.0.0.1/4000")
	}
	st.SetValue("v4tov6", "0.0.0.0/4000", "fd00::1/4000")
	if out, code := tool.Run(strings.Fields("interface portproxy delete v4tov4 listenport=4000 listenaddress=0.0.0.0")); code != 0 {
		t.Fatalf("delete: code %d, out %q", code, out)
	}
	var left []string
	for _, v := range values(t, st, "v4tov4") {
		left = append(left, v.Name)
	}
	if want := []string{"10.0.0.2/4000", "0.0.0.0/5555", "bogus/4000"}; !slices.Equal(left, want) {
		t.Errorf("v4tov4 after delete = %q, want %q", left, want)
	}
	if got := values(t, st, "v4tov6"); len(got) != 1 {
		t.Errorf("v4tov6 after a v4tov4 delete = %v", got)
	}
	// Only another spelling is there: it goes, and the delete succeeds.
	st.SetValue("v6tov6", "::0/80", "fd00::1/80")
	if out, code := tool.Run(strings.Fields("interface portproxy delete v6tov6 listenport=80 listenaddress=::")); code != 0 {
		t.Fatalf("delete of ::/80 beside ::0/80: code %d, out %q", code, out)
	}
	if got := values(t, st, "v6tov6"); len(got) != 0 {
		t.Errorf("v6tov6 after delete = %v", got)
	}
}

package firewall

import (
	"slices"
	"strings"
	"testing"

	"github.com/wslfwd/wslfwd/hostd-windows/backend"
)

func tcp(port uint16) Rule { return Rule{Kind: Windows, Protocol: backend.TCP, Port: port} }

// A listing as Windows prints it: a few of the rules a fresh Windows has,
// a user's, and the networks the host is on.
const privateHostListing = "profile|Private\r\n" +
	"rule|Allow|TCP|RPC|Domain, Private|%SystemRoot%\\system32\\svchost.exe|RpcSs\r\n" +
	"rule|Allow|UDP|5353|Any|Any|Any\r\n" +
	"rule|Allow|TCP|8000-8100|Private|Any|Any\r\n" +
	"rule|Allow|TCP|3000|Public|Any|Any\r\n" +
	"rule|Allow|TCP|9000|Any|C:\\tools\\server.exe|Any\r\n" +
	"rule|Allow|TCP|7000|Private|Any|Any\r\n" +
	"rule|Block|TCP|7000|Any|Any|Any\r\n" +
	"rule|Allow|6|2222|Domain, Private|Any|Any\r\n" +
	"wslfwd-list-done\r\n"

func TestAuditJudging(t *testing.T) {
	l, err := parseAudit(privateHostListing)
	if err != nil {
		t.Fatal(err)
	}
	udp5353 := Rule{Kind: Windows, Protocol: backend.UDP, Port: 5353}
	wanted := []Rule{tcp(8080), tcp(8101), tcp(3000), tcp(9000), tcp(7000), tcp(2222), tcp(135), udp5353, {Kind: Windows, Protocol: backend.UDP, Port: 8080}}
	got := l.Blocked(wanted)
	want := []Rule{
		tcp(8101), // outside the range
		tcp(3000), // allowed in Public only; the host is on a Private network
		tcp(9000), // allowed for one program only: portproxy is not it
		tcp(7000), // a block rule wins
		tcp(135),  // RPC is a keyword of its own, not a port number
		{Kind: Windows, Protocol: backend.UDP, Port: 8080}, // the range is TCP
	}
	if !slices.Equal(got, want) {
		t.Errorf("Blocked =\n %v\nwant\n %v", got, want)
	}

	// On a public network only the Public (and Any) rules count.
	l.Active = []string{"Public"}
	if got := l.Blocked([]Rule{tcp(3000), tcp(8080), tcp(2222)}); !slices.Equal(got, []Rule{tcp(8080), tcp(2222)}) {
		t.Errorf("on a public network Blocked = %v", got)
	}
	// A domain network is the Domain profile.
	l.Active = []string{"DomainAuthenticated"}
	if got := l.Blocked([]Rule{tcp(2222), tcp(8080)}); !slices.Equal(got, []Rule{tcp(8080)}) {
		t.Errorf("on a domain network Blocked = %v", got)
	}
	// A profile that lets everything in allows what no rule blocks.
	l.DefaultAllow = []string{"Domain"}
	if got := l.Blocked([]Rule{tcp(8080), tcp(7000)}); !slices.Equal(got, []Rule{tcp(7000)}) {
		t.Errorf("with the Domain profile off Blocked = %v", got)
	}
}

func TestAuditListingErrors(t *testing.T) {
	for _, out := range []string{
		"",
		"profile|Private\r\n",                   // did not finish
		"Access is denied.\r\nwslfwd-list-done", // a line it does not print
		"rule|Allow|TCP\r\nwslfwd-list-done",
	} {
		if l, err := parseAudit(out); err == nil {
			t.Errorf("parseAudit(%q) = %+v, want an error", out, l)
		}
	}
}

func TestFirewallBlocked(t *testing.T) {
	shell := newFakeShell()
	shell.audit = map[Kind]string{Windows: privateHostListing}
	fw := New(shell, nil)
	got, err := fw.Blocked(t.Context(), []Rule{tcp(8080), tcp(3000)})
	if err != nil || !slices.Equal(got, []Rule{tcp(3000)}) {
		t.Fatalf("Blocked = %v, %v; want tcp/3000", got, err)
	}
	// The Hyper-V firewall is asked only for mirrored-mode rules, and its
	// failing listing is an error, never "nothing blocked".
	hv := Rule{Kind: HyperV, Protocol: backend.TCP, Port: 8080}
	_, err = fw.Blocked(t.Context(), []Rule{tcp(8080), hv})
	if err == nil || !strings.Contains(err.Error(), "hyperv firewall") {
		t.Fatalf("Blocked with a failing Hyper-V listing = %v, want an error", err)
	}
	shell.audit[HyperV] = "profile|Private\r\ndefault|Any\r\nwslfwd-list-done\r\n"
	if got, err := fw.Blocked(t.Context(), []Rule{hv}); err != nil || len(got) != 0 {
		t.Fatalf("Hyper-V firewall allowing inbound by default: %v, %v", got, err)
	}
	for _, script := range shell.ran {
		if !strings.Contains(script, "-PolicyStore ActiveStore") {
			t.Errorf("an audit read other than the rules in force: %q", script)
		}
	}
}

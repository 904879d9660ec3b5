//go:build linux

package main

import (
	"strings"
	"testing"
	"time"

	"github.com/wslfwd/wslfwd/agent-linux/localstatus"
)

// The table says how the agent stands with the daemon, and per listener
// where it is exposed or why not.
func TestPrintStatus(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	doc := localstatus.Document{AgentVersion: "1.2.3", Distro: "Ubuntu", NetworkingMode: "nat",
		Detection: localstatus.Detection{TCP: "events", UDP: "scans"},
		Daemon: localstatus.Daemon{Address: "172.28.240.1:6110", Why: "NAT mode", Since: now.Add(-5 * time.Second),
			LastError: "daemon unreachable", RetryAt: now.Add(1500 * time.Millisecond)},
		Listeners: []localstatus.Listener{
			{Protocol: "tcp", Listen: "0.0.0.0", Port: 8080, Process: "python3", PID: 42, State: "NOT_CONNECTED", Reason: localstatus.ReasonNotConnected},
			{Protocol: "udp", Listen: "::", Port: 53, V6Only: true, State: "ACTIVE", ExposedAt: "0.0.0.0:5353"},
			{Protocol: "tcp", Listen: "0.0.0.0", Port: 9000, State: "ACTIVE", AsAsked: true},
			// The daemon's words: any holder of the agent token may pose as it.
			{Protocol: "tcp", Listen: "0.0.0.0", Port: 9001, State: "BLOCKED", Reason: "denied\x1b]0;pwn\x07"},
		}}
	var b strings.Builder
	if err := printStatus(&b, doc, now); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"distro  Ubuntu (nat; tcp events, udp scans)",
		"not connected for 5s: daemon unreachable; next try in 1.5s",
		"tcp    0.0.0.0      8080  python3 (42)  NOT_CONNECTED  not connected to the daemon",
		"udp    :: (v6only)  53    -             ACTIVE         0.0.0.0:5353",
		"on its own port, as asked",
		"denied?]0;pwn?",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("missing %q in\n%s", want, b.String())
		}
	}
	if strings.ContainsRune(b.String(), '\x1b') {
		t.Errorf("an escape from the daemon reached the terminal:\n%q", b.String())
	}
	doc.Daemon = localstatus.Daemon{Connected: true, Since: now.Add(-time.Minute), Version: "1.2.4"}
	if got := linkLine(doc.Daemon, now); got != "connected for 1m0s (daemon 1.2.4)" {
		t.Errorf("connected: %q", got)
	}
}

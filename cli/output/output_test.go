package output

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
)

// render runs f into a string.
func render(f func(*bytes.Buffer)) string {
	var b bytes.Buffer
	f(&b)
	return b.String()
}

// same compares rendered text line by line, so a failure shows the line.
func same(t *testing.T, name, got, want string) {
	t.Helper()
	if got == want {
		return
	}
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < len(g) || i < len(w); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			t.Errorf("%s: line %d\n got: %q\nwant: %q", name, i+1, gl, wl)
		}
	}
}

func TestStatusTable(t *testing.T) {
	got := render(func(b *bytes.Buffer) { Status(b, goldStatus(), goldNow) })
	same(t, "status", got, `Daemon:     0.4.0 on windows, up 1d2h
Backend:    portproxy
Listening:  172.28.240.1:17810, 127.0.0.1:17810
Expose:     0.0.0.0
Agents:     2 connected
Forwards:   3 active, 1 conflict
Reconciles: 12 (2 full), median full ≤ 50ms, incremental ≤ 10ms
netsh:      5 runs, 1 failed
To active:  median ≤ 25ms over 3 forwards, from the agent's message
Refused:    12 calls (PermissionDenied 1, Unauthenticated 11); closed 39457 connections past the limits, 3 at the pending timeout
Problems:   1
  iphlpsvc-stopped: The IP Helper service is stopped: portproxy forwards do not listen.
    fix: sc start iphlpsvc
`)

	bare := &wslfwdv1.GetStatusResponse{}
	got = render(func(b *bytes.Buffer) { Status(b, bare, goldNow) })
	same(t, "empty status", got, `Daemon:     unknown version
Backend:    -
Listening:  -
Expose:     -
Agents:     0 connected
Forwards:   none
Problems:   none
`)
}

// The Refused line names what was refused and closed, and is left out
// when nothing was; -o json carries every figure.
func TestStatusRefusedLine(t *testing.T) {
	for _, c := range []struct {
		m    *wslfwdv1.DaemonMetrics
		want string
	}{
		{&wslfwdv1.DaemonMetrics{}, ""},
		{&wslfwdv1.DaemonMetrics{ConnectionsClosedPendingTimeout: 2}, "no calls; closed 2 connections at the pending timeout"},
		{&wslfwdv1.DaemonMetrics{ConnectionsClosedPastLimits: 7}, "no calls; closed 7 connections past the limits"},
		{&wslfwdv1.DaemonMetrics{
			CallRefusals:  []*wslfwdv1.RefusalCount{{Code: "ResourceExhausted", Count: 4}},
			AgentRefusals: []*wslfwdv1.RefusalCount{{Code: "AlreadyExists", Count: 2}, {Code: "ResourceExhausted", Count: 1}},
		}, "4 calls (ResourceExhausted 4), 3 agent sessions (AlreadyExists 2, ResourceExhausted 1)"},
	} {
		got := render(func(b *bytes.Buffer) { Status(b, &wslfwdv1.GetStatusResponse{Metrics: c.m}, goldNow) })
		_, line, _ := strings.Cut(got, "Refused:    ")
		line, _, _ = strings.Cut(line, "\n")
		if line != c.want {
			t.Errorf("%v: Refused line %q, want %q", c.m, line, c.want)
		}
	}
	var b bytes.Buffer
	if err := WriteJSON(&b, goldStatus()); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Metrics struct {
			CallRefusals   []map[string]any `json:"call_refusals"`
			PastLimits     string           `json:"connections_closed_past_limits"`
			PendingTimeout string           `json:"connections_closed_pending_timeout"`
		} `json:"metrics"`
	}
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if m := doc.Metrics; len(m.CallRefusals) != 2 || m.PastLimits != "39457" || m.PendingTimeout != "3" {
		t.Errorf("status JSON metrics %+v", m)
	}
}

func TestAgentsTable(t *testing.T) {
	got := render(func(b *bytes.Buffer) { Agents(b, goldAgents(), goldNow) })
	same(t, "agents", got, `DISTRO        MODE      VERSION  FROM           REPORTED ADDRESS  REPORTED GATEWAY  LISTENERS                   DETECTION              STATE
Debian        nat       -        172.28.240.54  172.28.240.53     172.28.240.1      0                           -                      gone 12s, grace 18s
Ubuntu-22.0~  nat       v0.4.0   172.28.240.53  172.28.240.53 +2  172.28.240.1      12 +3 unreported (claimed)  tcp events, udp scans  connected 1h2m
Arch          mirrored  v0.4.0   127.0.0.1      -                 -                 0                           events                 connected
`)
	got = render(func(b *bytes.Buffer) { Agents(b, &wslfwdv1.ListAgentsResponse{}, goldNow) })
	same(t, "no agents", got, "No agents. Start wslfwd-agent inside your WSL distro.\n")

	// Grace over: only the age is left.
	gone := &wslfwdv1.Agent{LastSeen: ts(-2 * time.Minute), GraceUntil: ts(-time.Minute)}
	if s := AgentState(gone, goldNow); s != "gone 2m" {
		t.Errorf("AgentState after grace = %q", s)
	}
	// An idle agent's last message may be minutes old when it dies:
	// "gone" counts from the disconnect.
	justGone := &wslfwdv1.Agent{LastSeen: ts(-(3*time.Minute + 43*time.Second)), DisconnectedAt: ts(-time.Second), GraceUntil: ts(29 * time.Second)}
	if s := AgentState(justGone, goldNow); s != "gone 1s, grace 29s" {
		t.Errorf("AgentState a second after the disconnect = %q", s)
	}
}

func TestForwardsTable(t *testing.T) {
	want := `PROTO  LISTEN        TARGET              DISTRO  PROCESS       BACKEND    STATE     REASON
tcp    0.0.0.0:8080  172.28.240.53:8080  Ubuntu  node-inspec~  portproxy  ACTIVE
udp    0.0.0.0:5353  172.28.240.53:53    Ubuntu  -             relay      CONFLICT  host port held by svchost.exe
tcp    -             127.0.0.1:5432      Ubuntu  postgres      -          BLOCKED   bound to 127.0.0.1 only: unreachable from the host in NAT mode
`
	got := render(func(b *bytes.Buffer) { Forwards(b, goldForwards(), true) })
	same(t, "forwards --all", got, want)

	// Without reasons there is no REASON column, and typical rows fit in
	// 80 columns.
	active := &wslfwdv1.ListForwardsResponse{Forwards: goldForwards().Forwards[:1]}
	got = render(func(b *bytes.Buffer) { Forwards(b, active, false) })
	same(t, "forwards", got, `PROTO  LISTEN        TARGET              DISTRO  PROCESS       BACKEND    STATE
tcp    0.0.0.0:8080  172.28.240.53:8080  Ubuntu  node-inspec~  portproxy  ACTIVE
`)
	for _, line := range strings.Split(strings.TrimSpace(got), "\n") {
		if n := len([]rune(line)); n > 80 {
			t.Errorf("line is %d columns: %q", n, line)
		}
	}

	got = render(func(b *bytes.Buffer) { Forwards(b, &wslfwdv1.ListForwardsResponse{}, false) })
	same(t, "no forwards", got, "No forwards. `wslfwd forwards --all` also lists listeners that are not forwarded, and why.\n")

	// Listeners an agent left out, over the daemon's limit, are in no row:
	// a line under the table, or under "no forwards", names them.
	const note = "Debian: its agent says it left 12 listeners unreported, so not forwarded: the distro has more than the daemon accepts from one agent (4096, max_listeners_per_agent).\n"
	over := []*wslfwdv1.UnreportedListeners{{Distro: "Debian", Count: 12, Max: 4096}}
	got = render(func(b *bytes.Buffer) {
		Forwards(b, &wslfwdv1.ListForwardsResponse{Forwards: goldForwards().Forwards[:1], Unreported: over}, false)
	})
	same(t, "forwards with unreported", got, `PROTO  LISTEN        TARGET              DISTRO  PROCESS       BACKEND    STATE
tcp    0.0.0.0:8080  172.28.240.53:8080  Ubuntu  node-inspec~  portproxy  ACTIVE
`+note)
	got = render(func(b *bytes.Buffer) { Forwards(b, &wslfwdv1.ListForwardsResponse{Unreported: over}, true) })
	same(t, "no forwards, unreported", got, "No forwards and no listeners reported.\n"+note)

	// Rows the daemon left out to keep its answer readable are counted
	// under the table.
	got = render(func(b *bytes.Buffer) {
		Forwards(b, &wslfwdv1.ListForwardsResponse{Forwards: goldForwards().Forwards[:1], Omitted: 70000}, true)
	})
	same(t, "forwards with rows omitted", got, `PROTO  LISTEN        TARGET              DISTRO  PROCESS       BACKEND    STATE
tcp    0.0.0.0:8080  172.28.240.53:8080  Ubuntu  node-inspec~  portproxy  ACTIVE
70000 more rows left out by the daemon, listeners not forwarded first: the list is longer than one answer carries.
`)
}

func TestProbeTable(t *testing.T) {
	got := render(func(b *bytes.Buffer) { Probe(b, goldProbe()) })
	same(t, "probe", got, `Probe of Ubuntu, echo port 40123
PATH         FROM            TO                   RESULT  LATENCY  REASON
wsl-to-host  wsl (Ubuntu)    172.28.240.1:17810   PASS    812µs
host-to-wsl  host            172.28.240.53:40123  PASS    1.23ms
lan-to-wsl   host (0.0.0.0)  10.2.3.1:40123       FAIL    -        dial tcp 10.2.3.1:40123: connect: connection refused
1 of 3 paths failed: lan-to-wsl.
`)
	ok := goldProbe()
	ok.Paths = ok.Paths[:2]
	got = render(func(b *bytes.Buffer) { Probe(b, ok) })
	if !strings.HasSuffix(got, "All 2 paths passed.\n") {
		t.Errorf("passing probe ends with %q", got)
	}
}

func TestEventLines(t *testing.T) {
	resync := &wslfwdv1.WatchResponse{Time: ts(4 * time.Second), Event: &wslfwdv1.WatchResponse_Resync{Resync: &wslfwdv1.WatchResync{}}}
	got := render(func(b *bytes.Buffer) {
		for _, e := range append(goldEvents(), resync) {
			Event(b, e, goldLoc)
		}
	})
	same(t, "events", got, `13:00:01.500  agent disconnected Debian nat 172.28.240.53
13:00:02.000  forward failed     udp 0.0.0.0:5353 -> 172.28.240.53:53 (Ubuntu) CONFLICT: host port held by svchost.exe
13:00:03.000  forward added      tcp 0.0.0.0:8080 -> 172.28.240.53:8080 (Ubuntu) node-inspector-server ACTIVE
13:00:04.000  resync             fell behind: events were lost; the current agents and forwards follow
`)
}

func TestDoctorAndChanged(t *testing.T) {
	got := render(func(b *bytes.Buffer) {
		Doctor(b, []Check{
			{Name: "daemon reachable", Verdict: Pass, Detail: "wslfwd-hostd 0.4.0"},
			{Name: "agents connected", Verdict: Fail, Detail: "no agent is connected", Hint: "start wslfwd-agent"},
			{Name: "forwards healthy", Verdict: Skip},
		})
	})
	same(t, "doctor", got, `PASS  daemon reachable: wslfwd-hostd 0.4.0
FAIL  agents connected: no agent is connected
      fix: start wslfwd-agent
SKIP  forwards healthy
`)
	got = render(func(b *bytes.Buffer) { Changed(b, "Removed", goldForwards().Forwards[1]) })
	same(t, "changed", got, "Removed udp 0.0.0.0:5353 -> 172.28.240.53:53 (Ubuntu): CONFLICT, host port held by svchost.exe\n")
}

func TestJSONUsesProtoNamesAndRoundTrips(t *testing.T) {
	var b bytes.Buffer
	if err := WriteJSON(&b, goldForwards()); err != nil {
		t.Fatal(err)
	}
	// Keys are proto field names; unset fields are left out.
	var doc struct {
		Forwards []map[string]any `json:"forwards"`
	}
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil || len(doc.Forwards) != 3 {
		t.Fatalf("not one JSON document with 3 forwards: %v\n%s", err, b.String())
	}
	first := doc.Forwards[0]
	if first["listen_address"] != "0.0.0.0" || first["process_name"] != "node-inspector-server" || first["state"] != "FORWARD_STATE_ACTIVE" {
		t.Errorf("first forward: %v", first)
	}
	for _, absent := range []string{"listenAddress", "reason", "since"} {
		if _, ok := first[absent]; ok {
			t.Errorf("first forward has key %q: %v", absent, first)
		}
	}
	var back wslfwdv1.ListForwardsResponse
	if err := protojson.Unmarshal(b.Bytes(), &back); err != nil || !proto.Equal(&back, goldForwards()) {
		t.Errorf("round trip: %v, %v", err, &back)
	}

	b.Reset()
	for _, e := range goldEvents() {
		if err := WriteJSONLine(&b, e); err != nil {
			t.Fatal(err)
		}
	}
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != len(goldEvents()) {
		t.Fatalf("%d events gave %d lines:\n%s", len(goldEvents()), len(lines), b.String())
	}
	for i, l := range lines {
		var ev wslfwdv1.WatchResponse
		if err := protojson.Unmarshal([]byte(l), &ev); err != nil || !proto.Equal(&ev, goldEvents()[i]) {
			t.Errorf("line %d: %v", i, err)
		}
	}
}

func TestParseFormat(t *testing.T) {
	for in, ok := range map[string]bool{"table": true, "json": true, "": false, "JSON": false, "yaml": false} {
		if _, err := ParseFormat(in); (err == nil) != ok {
			t.Errorf("ParseFormat(%q) error = %v", in, err)
		}
	}
}

func TestHelpers(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0:                                "0s",
		350 * time.Millisecond:           "350ms",
		45 * time.Second:                 "45s",
		12 * time.Minute:                 "12m",
		12*time.Minute + 5*time.Second:   "12m5s",
		time.Hour:                        "1h",
		time.Hour + 2*time.Minute:        "1h2m",
		-90 * time.Second:                "1m30s",
		72 * time.Hour:                   "3d",
		3*24*time.Hour + 4*time.Hour + 1: "3d4h",
	} {
		if got := Duration(d); got != want {
			t.Errorf("Duration(%v) = %q, want %q", d, got, want)
		}
	}
	for in, want := range map[string]string{"nginx": "nginx", "exactly-12ch": "exactly-12ch", "thirteen-char": "thirteen-ch~", "ñandú-ñandú-ñandú": "ñandú-ñandú~"} {
		if got := Truncate(in, 12); got != want {
			t.Errorf("Truncate(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[[2]string]string{
		{"0.0.0.0", "80"}: "0.0.0.0:80", {"::", "80"}: "[::]:80", {"", ""}: "", {"127.0.0.1", ""}: "127.0.0.1:*",
	} {
		var port uint32
		if in[1] != "" {
			port = 80
		}
		if got := HostPort(in[0], port); got != want {
			t.Errorf("HostPort(%q, %d) = %q, want %q", in[0], port, got, want)
		}
	}
}

// The median is the first bucket holding half the durations; past the
// last bound it says so.
func TestMedian(t *testing.T) {
	for _, c := range []struct {
		h    *wslfwdv1.DurationHistogram
		want string
	}{
		{nil, "-"},
		{histogram(1, 0.00025, 1), "≤ 250µs"},
		{histogram(4, 2.5, 5), "≤ 2.5s"},
		{&wslfwdv1.DurationHistogram{Count: 3, Buckets: []*wslfwdv1.DurationBucket{{UpperBoundSeconds: 10, Count: 1}}}, "> 10s"},
	} {
		if got := median(c.h); got != c.want {
			t.Errorf("median(%v) = %q, want %q", c.h, got, c.want)
		}
	}
}

// A cell holding control characters (text an agent sent, which the
// daemon should have refused) prints them as '?', never as commands to
// the terminal; tabs and newlines become spaces.
func TestTableCellsArePrintable(t *testing.T) {
	got := render(func(b *bytes.Buffer) {
		tb := newTable(b)
		tb.row("A", "B")
		tb.row("\x1b]0;owned\a\x1b[2Jok", "tab\there\u202enext")
		tb.flush()
	})
	if strings.ContainsFunc(got, func(r rune) bool { return r != '\n' && !unicode.IsPrint(r) }) {
		t.Errorf("the table printed control characters: %q", got)
	}
	if !strings.Contains(got, "?]0;owned??[2Jok") || !strings.Contains(got, "tab here?next") {
		t.Errorf("table = %q", got)
	}
}

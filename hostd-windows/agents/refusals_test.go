package agents

import (
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/internal/syncbuf"
)

// Refusals under ever new distro names are each recorded but logged at
// most refusalLogMax times a minute in all.
func TestRefusalLogIsBounded(t *testing.T) {
	var logs syncbuf.Buffer
	now := time.Unix(1000, 0)
	r := New(Options{Logger: slog.New(slog.NewTextHandler(&logs, nil)), Now: func() time.Time { return now }})
	peer := netip.MustParseAddrPort("127.0.0.1:5000") // NAT from loopback: refused
	for i := range 100 {
		h := &wslfwdv1.AgentHello{Distro: fmt.Sprintf("d%d", i), NetworkingMode: wslfwdv1.NetworkingMode_NETWORKING_MODE_NAT}
		if _, err := r.Open(h, peer, peer); err == nil {
			t.Fatal("NAT hello from loopback accepted")
		}
	}
	if n := strings.Count(logs.String(), "agent session refused"); n != refusalLogMax {
		t.Fatalf("%d refusals logged in a minute, want %d", n, refusalLogMax)
	}
	if got := len(r.Refusals()); got != maxRefusals {
		t.Fatalf("%d refusal rows kept, want the %d newest", got, maxRefusals)
	}
	now = now.Add(refusalLogEvery)
	if _, err := r.Open(&wslfwdv1.AgentHello{Distro: "late", NetworkingMode: wslfwdv1.NetworkingMode_NETWORKING_MODE_NAT}, peer, peer); err == nil {
		t.Fatal("accepted")
	}
	if !strings.Contains(logs.String(), "suppressed_other_refusals=80") {
		t.Fatalf("the next minute's first line does not count the 80 not logged:\n%s", logs.String())
	}
}

// A refusal's reason may quote what the agent sent: the row keeps it
// printable and bounded, so neither a terminal nor ListAgents gets the
// agent's bytes raw.
func TestRefusalReasonIsShownSafely(t *testing.T) {
	r, _ := newReg(t, Options{})
	s := open(t, r, "Ubuntu", agentAddr)
	for _, listen := range []string{"\x1b]0;owned\a\x1b[2J\x1b[31mFAKE: all good", strings.Repeat("\x1b[2J", 1<<20)} {
		bad := &wslfwdv1.Listener{Protocol: 9, Family: ipv4, Listen: listen, Port: 1}
		if err := r.Apply(s, snapshot(1, network("172.28.240.53"), bad)); err == nil {
			t.Fatal("a listener of protocol 9 was accepted")
		}
	}
	rows := r.Refusals()
	if len(rows) != 2 {
		t.Fatalf("%d refusal rows, want 2", len(rows))
	}
	for _, row := range rows {
		reason := row.GetReason()
		if strings.ContainsFunc(reason, func(r rune) bool { return !unicode.IsPrint(r) }) || utf8.RuneCountInString(reason) > maxReasonLen+1 {
			t.Errorf("reason of %d characters, printable %v: %.80q", utf8.RuneCountInString(reason),
				!strings.ContainsFunc(reason, func(r rune) bool { return !unicode.IsPrint(r) }), reason)
		}
	}
}

func TestShownReason(t *testing.T) {
	for in, want := range map[string]string{
		"plain reason":                       "plain reason",
		"esc\x1b[2J \xff\u202e":              "esc?[2J ??",
		strings.Repeat("a", maxReasonLen+10): strings.Repeat("a", maxReasonLen) + "…",
	} {
		if got := shown(in); got != want {
			t.Errorf("shown(%.40q) = %.40q, want %.40q", in, got, want)
		}
	}
}

// One peer that floods the table with refusals under ever new distro
// names pushes out only its own rows: another peer's refusal, older than
// all of them, is still listed.
func TestRefusalFloodKeepsOtherPeersRows(t *testing.T) {
	now := time.Unix(1000, 0)
	r := New(Options{Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { now = now.Add(time.Millisecond); return now }})
	nat := wslfwdv1.NetworkingMode_NETWORKING_MODE_NAT
	victim := netip.MustParseAddrPort("127.0.0.1:5000")
	if _, err := r.Open(&wslfwdv1.AgentHello{Distro: "Ubuntu", NetworkingMode: nat}, victim, victim); err == nil {
		t.Fatal("NAT hello from loopback accepted")
	}
	flooder := netip.MustParseAddrPort("127.0.0.2:5000")
	for i := range 4 * maxRefusals {
		if _, err := r.Open(&wslfwdv1.AgentHello{Distro: fmt.Sprintf("fake%d", i), NetworkingMode: nat}, flooder, flooder); err == nil {
			t.Fatal("NAT hello from loopback accepted")
		}
	}
	rows := r.Refusals()
	if len(rows) != maxRefusals {
		t.Fatalf("%d rows, want %d", len(rows), maxRefusals)
	}
	if last := rows[len(rows)-1]; last.GetDistro() != "Ubuntu" || last.GetPeerAddress() != "127.0.0.1" {
		t.Errorf("the oldest row left is %s from %s, want the victim's refusal (Ubuntu from 127.0.0.1)", last.GetDistro(), last.GetPeerAddress())
	}
	if first := rows[0]; first.GetDistro() != fmt.Sprintf("fake%d", 4*maxRefusals-1) {
		t.Errorf("the newest row is %s, want the flood's last", first.GetDistro())
	}
}

// Sessions that come and go as fast as a token holder can make them
// (each registered, replacing the last, then disconnected) log at most
// SessionLogMax lines a minute, and the next minute's first line counts
// the rest.
func TestSessionLinesAreBounded(t *testing.T) {
	var logs syncbuf.Buffer
	now := time.Unix(1000, 0)
	r := New(Options{Grace: time.Hour, Logger: slog.New(slog.NewTextHandler(&logs, nil)), Now: func() time.Time { return now },
		Targets: TargetRules{AllowLoopback: true}})
	peer := netip.MustParseAddrPort("127.0.0.1:5000")
	for range 1000 {
		s, err := r.Open(&wslfwdv1.AgentHello{Distro: "Ubuntu", NetworkingMode: wslfwdv1.NetworkingMode_NETWORKING_MODE_NAT}, peer, peer)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Apply(s, snapshot(1, network("127.0.0.1"))); err != nil {
			t.Fatal(err)
		}
		r.Close(s)
	}
	if n := strings.Count(logs.String(), "\n"); n != SessionLogMax {
		t.Fatalf("%d lines for 1,000 sessions in a minute, want %d:\n%s", n, SessionLogMax, logs.String())
	}
	now = now.Add(SessionLogEvery)
	s, err := r.Open(&wslfwdv1.AgentHello{Distro: "Ubuntu", NetworkingMode: wslfwdv1.NetworkingMode_NETWORKING_MODE_NAT}, peer, peer)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Apply(s, snapshot(1, network("127.0.0.1"))); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "lines_held_back=1979") {
		t.Fatalf("the next minute's first line does not count the 1,979 held back (1,999 lines: no replacing for the first):\n%s", logs.String())
	}
}

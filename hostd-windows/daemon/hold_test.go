package daemon

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/hostd-windows/backend"
	"github.com/wslfwd/wslfwd/hostd-windows/firewall"
	"github.com/wslfwd/wslfwd/hostd-windows/ledger"
	"github.com/wslfwd/wslfwd/hostd-windows/registry"
)

// A restart is an adoption: the durable backend's forwards are held, not
// deleted and added again, while agents reconnect; with their firewall
// rules. A forward still wanted by its returning agent continues untouched;
// one its agent no longer wants goes at once; one whose agent does not
// return goes when grace ends.
func TestRestartHoldsForwardsForReturningAgents(t *testing.T) {
	dir := t.TempDir()
	be := newFakeBackend()
	be.durable = true
	h := startHarness(t, harnessOptions{backend: be, stateDir: dir})
	ubuntu, debian := h.connect(t, "Ubuntu"), h.connect(t, "Debian")
	ubuntu.snapshot(tcpListener("0.0.0.0", 8080))
	debian.snapshot(tcpListener("0.0.0.0", 9090))
	ubuntu.close()
	debian.close()
	h.stop()
	entries, _ := be.snapshot()
	removed, added := be.changes()
	if len(entries) != 2 || len(removed) != 0 || len(added) != 2 {
		t.Fatalf("before the restart: entries %v, removed %v, added %v", entries, removed, added)
	}
	restartWithinGrace(t, be, dir)
	restartPastGrace(t, be, dir)
	if _, after := be.changes(); len(after) != len(added) {
		t.Fatalf("added %v after the restarts", after[len(added):])
	}
}

// restartWithinGrace starts daemon B, which holds both forwards until
// Ubuntu's agent returns wanting its forward still, with no change to the
// backend.
func restartWithinGrace(t *testing.T, be *fakeBackend, dir string) {
	t.Helper()
	fw := &fakeFirewall{}
	h := startHarness(t, harnessOptions{backend: be, stateDir: dir, firewall: fw})
	if err := h.d.waitRun(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	unchanged(t, be, "after the restart")
	held := h.forwards(t, false)
	if len(held) != 2 {
		t.Fatalf("forwards after the restart = %v, want both held", held)
	}
	for i, distro := range []string{"Ubuntu", "Debian"} {
		f := held[i]
		if f.GetState() != active || f.GetDistro() != distro || f.GetBackend() != "fake" ||
			!strings.Contains(f.GetReason(), "held after daemon restart") || !strings.Contains(f.GetReason(), "agent of "+distro) {
			t.Errorf("held forward %d = %v, want ACTIVE, held for %s's agent", i, f, distro)
		}
	}
	rules := []firewall.Rule{{Kind: firewall.Windows, Protocol: backend.TCP, Port: 8080}, {Kind: firewall.Windows, Protocol: backend.TCP, Port: 9090}}
	waitFor(t, "the held forwards' firewall rules", func() bool {
		_, got := fw.state()
		return slices.Equal(got, rules)
	})

	ch := h.watch(t, false)
	ubuntu := h.connect(t, "Ubuntu")
	ubuntu.snapshot(tcpListener("0.0.0.0", 8080))
	unchanged(t, be, "after the agent returned")
	// Watchers see the forward go on, not go and come back.
	if got, want := kinds(t, ch, 2), []string{"AGENT_EVENT_KIND_CONNECTED", "FORWARD_EVENT_KIND_CHANGED"}; !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	got := h.forwards(t, false)
	if len(got) != 2 || got[0].GetReason() != "" || got[0].GetState() != active || got[0].GetOrigin() != wslfwdv1.ForwardOrigin_FORWARD_ORIGIN_AGENT ||
		!strings.Contains(got[1].GetReason(), "agent of Debian") {
		t.Fatalf("forwards after Ubuntu's agent returned = %v, want its forward as before and Debian's still held", got)
	}
	// Forwarded as it asked, the agent is told nothing of it.
	if s := ubuntu.status("0.0.0.0", 8080); s != nil {
		t.Fatalf("the returning agent is told %v, want nothing", s)
	}
	ubuntu.close()
	h.stop()
}

// unchanged fails unless the backend never removed anything and added
// only the two forwards daemon A made.
func unchanged(t *testing.T, be *fakeBackend, when string) {
	t.Helper()
	if removed, added := be.changes(); len(removed) != 0 || len(added) != 2 {
		t.Fatalf("%s: removed %v, added %v; want no change", when, removed, added)
	}
}

// restartPastGrace starts daemon C with a short grace: Ubuntu's agent
// returns without the listener, so its forward goes at once; Debian's
// never returns, so its forward goes when grace ends.
func restartPastGrace(t *testing.T, be *fakeBackend, dir string) {
	t.Helper()
	const grace = 3 * time.Second
	start := time.Now()
	h := startHarness(t, harnessOptions{backend: be, stateDir: dir, grace: grace})
	ubuntu := h.connect(t, "Ubuntu")
	ubuntu.snapshot()
	removed, _ := be.changes()
	if !slices.Contains(removed, entry8080()) {
		t.Fatalf("after Ubuntu returned without the listener, removed %v; want its forward removed", removed)
	}
	// Debian's forward must still be held, unless a slow machine took
	// the whole grace period to get here.
	if len(removed) != 1 && time.Since(start) < grace {
		t.Fatalf("removed %v within grace; want Ubuntu's forward alone", removed)
	}
	// The backend entry goes first, then the same run updates the table.
	waitFor(t, "Debian's forward to go after grace, from the backend and the table", func() bool {
		entries, _ := be.snapshot()
		return len(entries) == 0 && len(h.forwards(t, true)) == 0
	})
}

func entry8080() backend.Entry {
	return backend.Entry{Protocol: backend.TCP, Listen: mustAP("0.0.0.0:8080"), Connect: mustAP(distroAddr + ":8080")}
}

// A hold ends when its distro's agent is back or grace is over; an entry
// of an old ledger, without a distro, waits for grace alone.
func TestHoldsEnd(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	rec := func(distro string, port uint16) ledger.Record {
		return ledger.Record{Entry: backend.Entry{Protocol: backend.TCP, Listen: netip.AddrPortFrom(netip.IPv4Unspecified(), port),
			Connect: mustAP("172.28.240.53:80")}, Distro: distro}
	}
	old, ubuntu, debian := rec("", 1), rec("Ubuntu", 2), rec("Debian", 3)
	h := holds{until: t0.Add(time.Minute), records: []ledger.Record{old, ubuntu, debian}}
	back := []registry.Agent{{Distro: "Ubuntu"}}
	if got := h.current(t0, back); !slices.Equal(got, []ledger.Record{old, debian}) {
		t.Fatalf("held with Ubuntu's agent back = %v, want %v", got, []ledger.Record{old, debian})
	}
	// Once its agent was back, a distro is never held again.
	if got := h.current(t0.Add(time.Second), nil); !slices.Equal(got, []ledger.Record{old, debian}) {
		t.Fatalf("held later = %v", got)
	}
	if got := h.current(t0.Add(time.Minute), nil); len(got) != 0 {
		t.Fatalf("held after grace = %v, want nothing", got)
	}
}

package engine_test

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/hostd-windows/backend"
	"github.com/wslfwd/wslfwd/hostd-windows/daemon/daemontest"
	"github.com/wslfwd/wslfwd/hostd-windows/engine"
	"github.com/wslfwd/wslfwd/hostd-windows/firewall"
	"github.com/wslfwd/wslfwd/internal/waitfor"
)

// A restart is an adoption: the durable backend's forwards are held, not
// deleted and added again, while agents reconnect; with their firewall
// rules. A forward still wanted by its returning agent continues untouched;
// one its agent no longer wants goes at once; one whose agent does not
// return goes when grace ends.
func TestRestartHoldsForwardsForReturningAgents(t *testing.T) {
	dir := t.TempDir()
	be := daemontest.NewBackend()
	be.SetDurable(true)
	h := daemontest.Start(t, daemontest.Options{Backend: be, StateDir: dir})
	ubuntu, debian := h.Connect(t, "Ubuntu"), h.Connect(t, "Debian")
	ubuntu.Snapshot(daemontest.TCPListener("0.0.0.0", 8080))
	debian.Snapshot(daemontest.TCPListener("0.0.0.0", 9090))
	ubuntu.Close()
	debian.Close()
	h.Stop()
	entries := be.Entries()
	removed, added := be.Changes()
	if len(entries) != 2 || len(removed) != 0 || len(added) != 2 {
		t.Fatalf("before the restart: entries %v, removed %v, added %v", entries, removed, added)
	}
	restartWithinGrace(t, be, dir)
	restartPastGrace(t, be, dir)
	if _, after := be.Changes(); len(after) != len(added) {
		t.Fatalf("added %v after the restarts", after[len(added):])
	}
}

// restartWithinGrace starts daemon B, which holds both forwards until
// Ubuntu's agent returns wanting its forward still, with no change to the
// backend.
func restartWithinGrace(t *testing.T, be *daemontest.Backend, dir string) {
	t.Helper()
	fw := &engine.FakeFirewall{}
	h := daemontest.Start(t, daemontest.Options{Backend: be, StateDir: dir, Firewall: fw})
	if err := h.Engine().WaitRun(daemontest.Ctx(t)); err != nil {
		t.Fatal(err)
	}
	unchanged(t, be, "after the restart")
	held := h.Forwards(t, false)
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
	waitfor.Cond(t, 10*time.Second, "the held forwards' firewall rules", func() bool {
		_, got := fw.State()
		return slices.Equal(got, rules)
	})

	ch := h.Watch(t, false)
	ubuntu := h.Connect(t, "Ubuntu")
	ubuntu.Snapshot(daemontest.TCPListener("0.0.0.0", 8080))
	unchanged(t, be, "after the agent returned")
	// Watchers see the forward go on, not go and come back.
	if got, want := kinds(t, ch, 2), []string{"AGENT_EVENT_KIND_CONNECTED", "FORWARD_EVENT_KIND_CHANGED"}; !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	got := h.Forwards(t, false)
	if len(got) != 2 || got[0].GetReason() != "" || got[0].GetState() != active || got[0].GetOrigin() != wslfwdv1.ForwardOrigin_FORWARD_ORIGIN_AGENT ||
		!strings.Contains(got[1].GetReason(), "agent of Debian") {
		t.Fatalf("forwards after Ubuntu's agent returned = %v, want its forward as before and Debian's still held", got)
	}
	// Forwarded as it asked, the agent is told nothing of it.
	if s := ubuntu.Status("0.0.0.0", 8080); s != nil {
		t.Fatalf("the returning agent is told %v, want nothing", s)
	}
	ubuntu.Close()
	h.Stop()
}

// unchanged fails unless the backend never removed anything and added
// only the two forwards daemon A made.
func unchanged(t *testing.T, be *daemontest.Backend, when string) {
	t.Helper()
	if removed, added := be.Changes(); len(removed) != 0 || len(added) != 2 {
		t.Fatalf("%s: removed %v, added %v; want no change", when, removed, added)
	}
}

// restartPastGrace starts daemon C with a short grace: Ubuntu's agent
// returns without the listener, so its forward goes at once; Debian's
// never returns, so its forward goes when grace ends.
func restartPastGrace(t *testing.T, be *daemontest.Backend, dir string) {
	t.Helper()
	const grace = 3 * time.Second
	start := time.Now()
	h := daemontest.Start(t, daemontest.Options{Backend: be, StateDir: dir, Grace: grace})
	ubuntu := h.Connect(t, "Ubuntu")
	ubuntu.Snapshot()
	removed, _ := be.Changes()
	if !slices.Contains(removed, entry8080()) {
		t.Fatalf("after Ubuntu returned without the listener, removed %v; want its forward removed", removed)
	}
	// Debian's forward must still be held, unless a slow machine took
	// the whole grace period to get here.
	if len(removed) != 1 && time.Since(start) < grace {
		t.Fatalf("removed %v within grace; want Ubuntu's forward alone", removed)
	}
	// The backend entry goes first, then the same run updates the table.
	waitfor.Cond(t, 10*time.Second, "Debian's forward to go after grace, from the backend and the table", func() bool {
		entries := be.Entries()
		return len(entries) == 0 && len(h.Forwards(t, true)) == 0
	})
}

func entry8080() backend.Entry {
	return backend.Entry{Protocol: backend.TCP, Listen: netip.MustParseAddrPort("0.0.0.0:8080"), Connect: netip.MustParseAddrPort(daemontest.DistroAddr + ":8080")}
}

package main

import (
	"log/slog"
	"net/netip"
	"strings"
	"testing"

	"github.com/wslfwd/wslfwd/hostd-windows/backend"
	"github.com/wslfwd/wslfwd/hostd-windows/backend/backendtest"
	"github.com/wslfwd/wslfwd/hostd-windows/ledger"
	"github.com/wslfwd/wslfwd/hostd-windows/reconcile"
	"github.com/wslfwd/wslfwd/internal/syncbuf"
)

// Wired as run wires them, the relay and the reconciler log each forward
// added or removed once, and no line names an attribute twice.
func TestForwardLoggedOnce(t *testing.T) {
	var out syncbuf.Buffer
	log := slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug}))
	be, err := openBackend(log, "relay", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	r := newReconciler(be, ledger.NewMemory(), log)
	lo := netip.MustParseAddr("127.0.0.1")
	e := backend.Entry{Protocol: backend.TCP, Listen: netip.AddrPortFrom(lo, backendtest.FreePort(t, lo)),
		Connect: netip.AddrPortFrom(lo, backendtest.FreePort(t, lo))}
	r.Reconcile(t.Context(), reconcile.Plan{Want: []ledger.Record{{Entry: e, Distro: "Ubuntu"}}})
	r.Reconcile(t.Context(), reconcile.Plan{})

	text := out.String()
	for _, msg := range []string{"forward added", "forward removed"} {
		if n := strings.Count(text, "msg=\""+msg+"\""); n != 1 {
			t.Errorf("%q logged %d times, want once:\n%s", msg, n, text)
		}
	}
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		seen := map[string]bool{}
		for _, f := range strings.Fields(line) {
			key, _, ok := strings.Cut(f, "=")
			if ok && seen[key] {
				t.Errorf("%q twice in %q", key, line)
			}
			seen[key] = seen[key] || ok
		}
	}
}

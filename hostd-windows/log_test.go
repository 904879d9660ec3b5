package main

import (
	"log/slog"
	"net/netip"
	"strings"
	"testing"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/hostd-windows/backend/backendtest"
	"github.com/wslfwd/wslfwd/hostd-windows/daemon/daemontest"
	"github.com/wslfwd/wslfwd/hostd-windows/metrics"
	"github.com/wslfwd/wslfwd/internal/syncbuf"
)

// Wired as run wires them, the relay and the reconciler log each forward
// added or removed once, and no line names an attribute twice.
func TestForwardLoggedOnce(t *testing.T) {
	var out syncbuf.Buffer
	log := slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug}))
	be, err := openBackend(log, "relay", t.TempDir(), metrics.New())
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	lo := netip.MustParseAddr("127.0.0.1")
	h := daemontest.Start(t, daemontest.Options{Backend: be, Expose: lo, Logger: log})
	h.Connect(t, "Ubuntu").Snapshot()
	hostPort := uint32(backendtest.FreePort(t, lo))
	if _, err := h.Control.Expose(daemontest.Ctx(t), &wslfwdv1.ExposeRequest{Port: hostPort + 1, HostPort: hostPort}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Control.Unexpose(daemontest.Ctx(t), &wslfwdv1.UnexposeRequest{HostPort: hostPort}); err != nil {
		t.Fatal(err)
	}
	h.Stop()

	text := out.String()
	for _, msg := range []string{"forward added", "forward removed"} {
		if n := strings.Count(text, "msg=\""+msg+"\""); n != 1 {
			t.Errorf("%q logged %d times, want once:\n%s", msg, n, text)
		}
	}
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		if !strings.Contains(line, " backend=") {
			continue // not the backend's or the reconciler's
		}
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

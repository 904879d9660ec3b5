package main

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/hostd-windows/backend"
	"github.com/wslfwd/wslfwd/hostd-windows/backend/backendtest"
	"github.com/wslfwd/wslfwd/hostd-windows/config"
	"github.com/wslfwd/wslfwd/hostd-windows/daemon/daemontest"
	"github.com/wslfwd/wslfwd/hostd-windows/metrics"
	"github.com/wslfwd/wslfwd/internal/syncbuf"
)

// Wired as run wires them, the relay and the reconciler log each forward
// added or removed once, and no line names an attribute twice.
func TestForwardLoggedOnce(t *testing.T) {
	var out syncbuf.Buffer
	log := slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg := config.Default()
	cfg.Backend = config.BackendRelay
	be, err := openBackend(log, cfg, t.TempDir(), metrics.New())
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

// The config's relay caps reach the relay: with relay_max_per_forward = 1
// a forward carries one client, and resets a second.
func TestRelayCapsFromConfig(t *testing.T) {
	cfg := config.Default()
	cfg.Backend, cfg.RelayMaxPerForward, cfg.RelayMaxClients = config.BackendRelay, 1, 1
	be, err := openBackend(slog.New(slog.DiscardHandler), cfg, t.TempDir(), metrics.New())
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	lo := netip.MustParseAddr("127.0.0.1")
	e := backend.Entry{Protocol: backend.TCP, Listen: netip.AddrPortFrom(lo, backendtest.FreePort(t, lo)), Connect: backendtest.Echo(t, backend.TCP)}
	if err := be.Apply(t.Context(), backend.Batch{Add: []backend.Entry{e}}); err != nil {
		t.Fatal(err)
	}
	echo := func() error {
		c, err := net.DialTimeout("tcp", e.Listen.String(), 5*time.Second)
		if err != nil {
			return err
		}
		t.Cleanup(func() { c.Close() })
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write([]byte("x")); err != nil {
			return err
		}
		_, err = io.ReadFull(c, make([]byte, 1))
		return err
	}
	if err := echo(); err != nil {
		t.Fatalf("the first client: %v", err)
	}
	if err := echo(); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("a second client with relay_max_per_forward = 1: %v, want it reset", err)
	}
}

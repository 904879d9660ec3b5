//go:build linux

package faults

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wslfwd/wslfwd/hostd-windows/backend"
	"github.com/wslfwd/wslfwd/hostd-windows/ledger"
	"github.com/wslfwd/wslfwd/lab/labrun"
)

// The daemon SIGKILLed while it applies 200 new forwards, some services
// closed while it is down, then restarted on the same state directory.
//
// What "adopted" means depends on the backend. Portproxy entries outlive
// the daemon, so a restarted daemon finds them and keeps those its ledger
// names. The relay's forwards are sockets of the daemon's process and die
// with it: after a restart nothing of the old run exists, so every ledger
// entry is stale and must be forgotten, and the forwards are rebuilt from
// the agent's fresh snapshot. What is meaningful to check here is
// therefore: the ledger the kill left behind is whole (it decodes and the
// daemon starts on it), the final table and the relay's sockets match wsl
// exactly (services closed while the daemon was down are not forwarded),
// and the ledger then names exactly the forwards that exist — nothing
// stale is remembered.
func TestDaemonKilledMidReconcile(t *testing.T) {
	ctx, env := startWithAgent(t, labrun.Options{}, 90*time.Second)
	ledgerPath := filepath.Join(env.StateDir, "ledger-relay.json")
	svc := newServices(t, env.Lab.WSL)
	const n = 200
	for i := range n {
		svc.open(uint16(20000 + i))
	}
	// Kill as soon as the daemon has recorded its intent: it is applying.
	var recorded int
	err := env.Wait(ctx, "the daemon to record forwards in its ledger", func(context.Context) (bool, error) {
		es, err := readLedger(ledgerPath)
		recorded = len(es)
		return recorded > 0, err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := env.Daemon.Kill(); err != nil {
		t.Fatal(err)
	}
	t.Logf("daemon killed with %d of %d entries in its ledger", recorded, n)

	// While it is down: half the services close.
	for i := 0; i < n; i += 2 {
		svc.close(uint16(20000 + i))
	}
	if _, err := readLedger(ledgerPath); err != nil {
		t.Fatalf("the ledger after the kill: %v", err)
	}
	if err := env.StartDaemon(ctx); err != nil {
		t.Fatalf("restart on the killed daemon's state: %v", err)
	}
	if err := waitConnected(ctx, env, true); err != nil {
		t.Fatal(err)
	}
	truth := checkExact(ctx, t, env, exactOptions{})
	if len(truth) != n/2 {
		t.Errorf("%d listeners in wsl, want %d", len(truth), n/2)
	}

	// The ledger names what exists, nothing more: wait for the write
	// that follows the last apply, then compare.
	wslAddr, err := currentWSLAddr(env)
	if err != nil {
		t.Fatal(err)
	}
	var diff string
	err = env.Wait(ctx, "the ledger to name exactly the forwards", func(context.Context) (bool, error) {
		es, err := readLedger(ledgerPath)
		if err != nil {
			return false, err
		}
		diff = ledgerDiff(es, truth, wslAddr)
		return diff == "", nil
	})
	if err != nil {
		t.Fatalf("%s\n%v", diff, err)
	}
}

// readLedger decodes the ledger file; a missing file is an empty ledger.
func readLedger(path string) ([]backend.Entry, error) {
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	es, err := ledger.Decode(data)
	if err != nil {
		return nil, fmt.Errorf("ledger %s: %w", path, err)
	}
	return es, nil
}

// ledgerDiff describes how the ledger differs from one TCP entry
// 0.0.0.0:port → wslAddr:port per listener in truth.
func ledgerDiff(es []backend.Entry, truth map[sock]bool, wslAddr netip.Addr) string {
	seen := map[sock]bool{}
	var bad []string
	for _, e := range es {
		s := sock{"tcp", e.Listen.Port()}
		if e.Protocol != backend.TCP || !truth[s] || seen[s] ||
			e.Listen.Addr() != netip.IPv4Unspecified() || e.Connect != netip.AddrPortFrom(wslAddr, s.port) {
			bad = append(bad, fmt.Sprintf("unexpected ledger entry %v", e))
		}
		seen[s] = true
	}
	for _, s := range sorted(truth) {
		if !seen[s] {
			bad = append(bad, "no ledger entry for "+s.String())
		}
	}
	if len(bad) > 10 {
		bad = append(bad[:10], fmt.Sprintf("… and %d more", len(bad)-10))
	}
	return strings.Join(bad, "; ")
}

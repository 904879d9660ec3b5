//go:build linux

package faults

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/wslfwd/wslfwd/internal/endpoint"
	"github.com/wslfwd/wslfwd/lab/labrun"
)

// The daemon SIGKILLed while it applies 200 new forwards, some services
// closed while it is down, then restarted on the same state directory.
//
// The relay's forwards are sockets of the daemon's process and die with
// it, so it keeps its ownership ledger in memory: after a restart nothing
// of the old run exists and the forwards are rebuilt from the agent's
// fresh snapshot. (Portproxy entries outlive the daemon; adopting them
// from the ledger on disk is covered by the reconcile unit tests.) What is
// checked here: the daemon starts again on what the kill left, the final
// table and the relay's sockets match wsl exactly (services closed while
// the daemon was down are not forwarded), and no relay ledger was written.
func TestDaemonKilledMidReconcile(t *testing.T) {
	ctx, env := startWithAgent(t, labrun.Options{}, 90*time.Second)
	svc := newServices(t, env.Lab.WSL)
	const n = 200
	for i := range n {
		svc.open(uint16(20000 + i))
	}
	// Kill as soon as the relay holds its first new socket: it is applying.
	var held int
	err := env.Wait(ctx, "the relay to open forwards", func(context.Context) (bool, error) {
		socks, err := listening(env.Lab.WinHost)
		delete(socks, sock{"tcp", endpoint.DefaultPort})
		held = len(socks)
		return held > 0, err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := env.Daemon.Kill(); err != nil {
		t.Fatal(err)
	}
	t.Logf("daemon killed holding %d of %d relay sockets", held, n)

	// While it is down: half the services close.
	for i := 0; i < n; i += 2 {
		svc.close(uint16(20000 + i))
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
	if _, err := os.Stat(filepath.Join(env.StateDir, "ledger-relay.json")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ledger-relay.json in the state directory: %v, want none (relay forwards end with the daemon)", err)
	}
}

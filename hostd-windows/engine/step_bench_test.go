package engine_test

import (
	"context"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/hostd-windows/agents"
	"github.com/wslfwd/wslfwd/hostd-windows/config"
	"github.com/wslfwd/wslfwd/hostd-windows/daemon/daemontest"
	"github.com/wslfwd/wslfwd/hostd-windows/engine"
	"github.com/wslfwd/wslfwd/hostd-windows/ledger"
	"github.com/wslfwd/wslfwd/hostd-windows/reconcile"
	"github.com/wslfwd/wslfwd/hostd-windows/statics"
)

// BenchmarkStepOneMore measures one engine step that forwards one more
// listener (and the next, that unforwards it) with 1,000 forwards open:
// the daemon's cost per change at scale.
func BenchmarkStepOneMore(b *testing.B) {
	e, s, seq := loadedEngine(b, 1000)
	ctx := context.Background()
	extra := daemontest.TCPListener("0.0.0.0", 40000)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		ch := &wslfwdv1.Changes{Seq: seq + 1}
		if i%2 == 0 {
			ch.Added = []*wslfwdv1.Listener{extra}
		} else {
			ch.Removed = []*wslfwdv1.Listener{extra}
		}
		if err := e.Registry().Apply(s, &wslfwdv1.AgentMessage{Msg: &wslfwdv1.AgentMessage_Changes{Changes: ch}}); err != nil {
			b.Fatal(err)
		}
		seq++
		e.Step(ctx, false)
	}
}

// loadedEngine is an engine, not running, with one agent whose n
// listeners are forwarded.
func loadedEngine(tb testing.TB, n int) (*engine.Engine, *agents.Session, uint64) {
	tb.Helper()
	be := daemontest.NewBackend()
	e, _ := bareEngine(tb, be, config.Default())
	s := openAgent(tb, e, "Bench", "127.0.0.1:50000")
	snap := &wslfwdv1.Snapshot{Seq: 1, Network: daemontest.Network()}
	for i := range n {
		snap.Listeners = append(snap.Listeners, daemontest.TCPListener("0.0.0.0", uint32(20000+i)))
	}
	if err := e.Registry().Apply(s, &wslfwdv1.AgentMessage{Msg: &wslfwdv1.AgentMessage_Snapshot{Snapshot: snap}}); err != nil {
		tb.Fatal(err)
	}
	e.Step(context.Background(), false)
	if got := len(be.Entries()); got != n {
		tb.Fatalf("%d entries after the first step, want %d", got, n)
	}
	return e, s, 1
}

// bareEngine is an engine the caller steps by hand, and its static
// forwards.
func bareEngine(tb testing.TB, be *daemontest.Backend, cfg *config.Config, opts ...func(*engine.Options)) (*engine.Engine, *statics.Store) {
	tb.Helper()
	dir := tb.TempDir()
	led, err := ledger.For(dir, be)
	if err != nil {
		tb.Fatal(err)
	}
	st, err := statics.Open(dir)
	if err != nil {
		tb.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	o := engine.Options{
		Config: cfg, Backend: be, Reconciler: reconcile.New(be, led, log), Statics: st,
		ExposeAddr: netip.MustParseAddr("0.0.0.0"), Grace: time.Hour,
		Targets: agents.TargetRules{AllowLoopback: true}, Logger: log,
	}
	for _, f := range opts {
		f(&o)
	}
	e, err := engine.New(o)
	if err != nil {
		tb.Fatal(err)
	}
	return e, st
}

// openAgent opens a NAT agent's session from peer, not yet registered.
func openAgent(tb testing.TB, e *engine.Engine, distro, peer string) *agents.Session {
	tb.Helper()
	hello := &wslfwdv1.AgentHello{Distro: distro, NetworkingMode: wslfwdv1.NetworkingMode_NETWORKING_MODE_NAT, ProtocolRevision: 2}
	s, err := e.Registry().Open(hello, netip.MustParseAddrPort(peer), netip.MustParseAddrPort("127.0.0.1:5030"))
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

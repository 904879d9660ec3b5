package daemon

import (
	"context"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/hostd-windows/config"
	"github.com/wslfwd/wslfwd/hostd-windows/ledger"
	"github.com/wslfwd/wslfwd/hostd-windows/reconcile"
	"github.com/wslfwd/wslfwd/hostd-windows/registry"
	"github.com/wslfwd/wslfwd/hostd-windows/statics"
)

// BenchmarkStepOneMore measures one engine step that forwards one more
// listener (and the next, that unforwards it) with 1,000 forwards open:
// the daemon's cost per change at scale.
func BenchmarkStepOneMore(b *testing.B) {
	d, s, seq := loadedDaemon(b, 1000)
	ctx := context.Background()
	extra := tcpListener("0.0.0.0", 40000)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		ch := &wslfwdv1.Changes{Seq: seq + 1}
		if i%2 == 0 {
			ch.Added = []*wslfwdv1.Listener{extra}
		} else {
			ch.Removed = []*wslfwdv1.Listener{extra}
		}
		if err := d.reg.Apply(s, &wslfwdv1.AgentMessage{Msg: &wslfwdv1.AgentMessage_Changes{Changes: ch}}); err != nil {
			b.Fatal(err)
		}
		seq++
		d.step(ctx)
	}
}

// loadedDaemon is a daemon, not running, with one agent whose n listeners
// are forwarded, through its engine.
func loadedDaemon(tb testing.TB, n int) (*Daemon, *registry.Session, uint64) {
	tb.Helper()
	be := newFakeBackend()
	d := bareDaemon(tb, be, config.Default())
	s := openAgent(tb, d, "Bench", "127.0.0.1:50000")
	snap := &wslfwdv1.Snapshot{Seq: 1, Network: agentNetwork()}
	for i := range n {
		snap.Listeners = append(snap.Listeners, tcpListener("0.0.0.0", uint32(20000+i)))
	}
	if err := d.reg.Apply(s, &wslfwdv1.AgentMessage{Msg: &wslfwdv1.AgentMessage_Snapshot{Snapshot: snap}}); err != nil {
		tb.Fatal(err)
	}
	d.step(context.Background())
	if got := len(be.entries); got != n {
		tb.Fatalf("%d entries after the first step, want %d", got, n)
	}
	return d, s, 1
}

// bareDaemon is a daemon whose engine the caller steps by hand.
func bareDaemon(tb testing.TB, be *fakeBackend, cfg *config.Config) *Daemon {
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
	d, err := New(Options{
		Config: cfg, Backend: be, Reconciler: reconcile.New(be, led, log), Statics: st,
		ExposeAddr: netip.MustParseAddr("0.0.0.0"), Grace: time.Hour,
		Targets: registry.TargetRules{AllowLoopback: true}, Logger: log,
	})
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

// openAgent opens a NAT agent's session from peer, not yet registered.
func openAgent(tb testing.TB, d *Daemon, distro, peer string) *registry.Session {
	tb.Helper()
	hello := &wslfwdv1.AgentHello{Distro: distro, NetworkingMode: wslfwdv1.NetworkingMode_NETWORKING_MODE_NAT, ProtocolRevision: 2}
	s, err := d.reg.Open(hello, netip.MustParseAddrPort(peer), netip.MustParseAddrPort("127.0.0.1:5030"))
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

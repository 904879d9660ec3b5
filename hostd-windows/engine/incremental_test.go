package engine_test

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/hostd-windows/agents"
	"github.com/wslfwd/wslfwd/hostd-windows/backend"
	"github.com/wslfwd/wslfwd/hostd-windows/config"
	"github.com/wslfwd/wslfwd/hostd-windows/daemon/daemontest"
	"github.com/wslfwd/wslfwd/hostd-windows/engine"
	"github.com/wslfwd/wslfwd/hostd-windows/policy"
	"github.com/wslfwd/wslfwd/hostd-windows/statics"
	"github.com/wslfwd/wslfwd/hostd-windows/wire"
)

// TestIncrementalStepsMatchFullSteps feeds the same random changes (two
// agents sharing sockets and ports, remaps, IPv6, statics, a reconnect)
// to two engines, one of which makes every step full, and after each step
// compares what they hold: the table, the backend, the failed count and
// firewall rules, what agents were told, and what watchers saw.
func TestIncrementalStepsMatchFullSteps(t *testing.T) {
	testTwins(t, 0)
}

// TestIncrementalStepsMatchFullStepsAtTheVMCap does the same with a cap
// of 3 listeners per agent, and so 3 ports for the two agents together
// (they share one source, loopback): ports come and go past the cap, and
// a port that gains its place must be forwarded by the step that follows,
// as a full step would, although its agent's listeners did not change.
func TestIncrementalStepsMatchFullStepsAtTheVMCap(t *testing.T) {
	testTwins(t, 3)
}

// testTwins compares incremental and full steps over random changes, with
// at most max listeners per agent (0: no limit).
func testTwins(t *testing.T, max int) {
	for seed := range uint64(40) {
		rng := rand.New(rand.NewPCG(seed, 16))
		cfg := config.Default()
		cfg.IPv6 = rng.IntN(2) == 0
		cfg.Remaps = []config.Remap{{Port: 22, HostPort: 2222, Distro: "Ubuntu"}}
		inc, full := newTwin(t, cfg, max), newTwin(t, cfg, max)
		for step := range 40 {
			ops := randomOps(rng, inc)
			inc.apply(t, ops)
			full.apply(t, ops)
			inc.e.Step(context.Background(), false)
			full.e.Step(context.Background(), true)
			compareTwins(t, fmt.Sprintf("seed %d step %d (%v)", seed, step, ops), inc, full)
		}
	}
}

// twin is one engine of the pair, stepped by hand, with its agents.
type twin struct {
	e       *engine.Engine
	be      *daemontest.Backend
	statics *statics.Store
	w       *engine.Watcher
	agents  map[string]*agents.Session
	seq     map[string]uint64
	held    map[string][]*wslfwdv1.Listener // what each agent reported
	last    time.Time                       // when the latest agent was registered, or later
	max     int                             // listeners per agent; 0: no limit
}

var twinPeers = map[string]string{"Ubuntu": "127.0.0.1:50000", "Debian": "127.0.0.2:50000"}

func newTwin(t *testing.T, cfg *config.Config, max int) *twin {
	tw := &twin{be: daemontest.NewBackend(), agents: map[string]*agents.Session{}, seq: map[string]uint64{}, held: map[string][]*wslfwdv1.Listener{}, max: max}
	tw.e, tw.statics = bareEngine(t, tw.be, cfg, func(o *engine.Options) { o.MaxListeners = max })
	w, err := tw.e.Subscribe()
	if err != nil {
		t.Fatal(err)
	}
	tw.w = w
	for _, distro := range []string{"Ubuntu", "Debian"} {
		tw.connect(t, distro)
	}
	return tw
}

// connect opens a session for distro and sends what it holds.
//
// Agents rank by when they registered (their first snapshot), then by
// their random session IDs, so two agents registered in one clock tick
// (Windows' clock is coarse) would rank at random, and differently in
// the two twins. Each agent therefore registers on a later tick than the
// one before, as real connections do.
func (tw *twin) connect(t *testing.T, distro string) {
	for !time.Now().After(tw.last) {
		runtime.Gosched()
	}
	tw.agents[distro] = openAgent(t, tw.e, distro, twinPeers[distro])
	tw.seq[distro] = 0
	tw.snapshot(t, distro)
	tw.last = time.Now()
}

func (tw *twin) snapshot(t *testing.T, distro string) {
	tw.seq[distro]++
	// Fresh messages, as a resync sends: equal listeners, new pointers.
	var ls []*wslfwdv1.Listener
	for _, l := range tw.held[distro] {
		ls = append(ls, proto.CloneOf(l))
	}
	tw.send(t, distro, &wslfwdv1.AgentMessage{Msg: &wslfwdv1.AgentMessage_Snapshot{Snapshot: &wslfwdv1.Snapshot{
		Seq: tw.seq[distro], Network: daemontest.Network(), Listeners: ls}}})
}

func (tw *twin) send(t *testing.T, distro string, m *wslfwdv1.AgentMessage) {
	if err := tw.e.Registry().Apply(tw.agents[distro], m); err != nil {
		t.Fatalf("%s: %v", distro, err)
	}
}

// op is one random change.
type op struct {
	kind    string // add, remove, update, resync, reconnect, static
	distro  string
	l       *wslfwdv1.Listener
	static  policy.Static
	removal bool
}

func (o op) String() string { return fmt.Sprintf("%s %s %v", o.kind, o.distro, o.l) }

func randomOps(rng *rand.Rand, tw *twin) []op {
	var ops []op
	for range 1 + rng.IntN(3) {
		distro := []string{"Ubuntu", "Debian"}[rng.IntN(2)]
		switch n := rng.IntN(20); {
		case n < 10:
			ops = append(ops, op{kind: "add", distro: distro, l: randomListener(rng)})
		case n < 14 && len(tw.held[distro]) > 0:
			ops = append(ops, op{kind: "remove", distro: distro, l: tw.held[distro][rng.IntN(len(tw.held[distro]))]})
		case n < 16 && len(tw.held[distro]) > 0:
			// The same socket, now seen with its process (or not).
			l := proto.CloneOf(tw.held[distro][rng.IntN(len(tw.held[distro]))])
			l.Pid, l.ProcessName = 1-l.GetPid(), fmt.Sprint("svc", rng.IntN(2))
			ops = append(ops, op{kind: "update", distro: distro, l: l})
		case n < 17:
			ops = append(ops, op{kind: "resync", distro: distro})
		case n < 18:
			ops = append(ops, op{kind: "reconnect", distro: distro})
		default:
			st := policy.Static{Protocol: backend.TCP, Port: twinPorts[rng.IntN(len(twinPorts))], Distro: distro}
			ops = append(ops, op{kind: "static", static: st, removal: rng.IntN(2) == 0})
		}
	}
	return ops
}

var twinPorts = []uint16{22, 80, 2222, 8080}

func randomListener(rng *rand.Rand) *wslfwdv1.Listener {
	listen := []string{"0.0.0.0", "127.0.0.1", "::"}[rng.IntN(3)]
	l := daemontest.TCPListener(listen, uint32(twinPorts[rng.IntN(len(twinPorts))]))
	l.Inode = uint64(rng.IntN(3))
	l.Pid = uint32(rng.IntN(2))
	if rng.IntN(4) == 0 {
		l.Protocol = wslfwdv1.Protocol_PROTOCOL_UDP
	}
	return l
}

// apply makes the changes: one Changes message per agent for its adds
// and removes, the other ops as they come.
func (tw *twin) apply(t *testing.T, ops []op) {
	changes := map[string]*wslfwdv1.Changes{}
	for _, o := range ops {
		switch o.kind {
		case "add", "remove", "update":
			if changes[o.distro] == nil {
				changes[o.distro] = &wslfwdv1.Changes{}
			}
			tw.change(changes[o.distro], o)
		case "resync":
			tw.snapshot(t, o.distro)
		case "reconnect":
			tw.e.Registry().Close(tw.agents[o.distro])
			tw.connect(t, o.distro)
		case "static":
			if o.removal {
				tw.statics.Remove(o.static.Protocol, netip.AddrPortFrom(netip.MustParseAddr("0.0.0.0"), o.static.Port))
			} else if err := tw.statics.Add(o.static); err != nil {
				t.Logf("static: %v", err) // taken already: both twins refuse it alike
			}
		}
	}
	for _, distro := range slices.Sorted(maps.Keys(changes)) {
		ch := changes[distro]
		if len(ch.Added)+len(ch.Removed) == 0 {
			continue
		}
		tw.seq[distro]++
		ch.Seq = tw.seq[distro]
		tw.send(t, distro, &wslfwdv1.AgentMessage{Msg: &wslfwdv1.AgentMessage_Changes{Changes: ch}})
	}
}

// change adds o to ch, keeping what the agent holds in step: a listener
// is added at most once and removed only when held.
func (tw *twin) change(ch *wslfwdv1.Changes, o op) {
	same := func(l *wslfwdv1.Listener) bool { return wire.CompareListeners(l, o.l) == 0 }
	i := slices.IndexFunc(tw.held[o.distro], same)
	switch {
	case o.kind == "add" && i < 0 && !slices.ContainsFunc(ch.Removed, same) && (tw.max == 0 || len(tw.held[o.distro]) < tw.max):
		tw.held[o.distro] = append(tw.held[o.distro], o.l)
		ch.Added = append(ch.Added, o.l)
	case o.kind == "update" && i >= 0 && !slices.ContainsFunc(ch.Added, same) && !slices.ContainsFunc(ch.Removed, same):
		tw.held[o.distro][i] = o.l
		ch.Added = append(ch.Added, o.l)
	case o.kind == "remove" && i >= 0 && !slices.ContainsFunc(ch.Added, same):
		tw.held[o.distro] = slices.Delete(tw.held[o.distro], i, i+1)
		ch.Removed = append(ch.Removed, o.l)
	}
}

func compareTwins(t *testing.T, where string, inc, full *twin) {
	t.Helper()
	a, b := inc.e.Kept(), full.e.Kept()
	if !maps.Equal(a.Table, b.Table) {
		t.Fatalf("%s: tables differ\nincremental:\n%v\nfull:\n%v", where, a.Table, b.Table)
	}
	if ea, eb := inc.be.Entries(), full.be.Entries(); !maps.Equal(ea, eb) {
		t.Fatalf("%s: backends differ\nincremental %v\nfull %v", where, ea, eb)
	}
	if a.Failing != b.Failing || !maps.Equal(a.Rules, b.Rules) {
		t.Fatalf("%s: failing %d, rules %v; full %d, %v", where, a.Failing, a.Rules, b.Failing, b.Rules)
	}
	for distro := range inc.agents {
		if sa, sb := inc.e.Told(inc.agents[distro].ID), full.e.Told(full.agents[distro].ID); !maps.Equal(sa, sb) {
			t.Fatalf("%s: %s was told %v, full %v", where, distro, sa, sb)
		}
	}
	if ea, eb := events(inc), events(full); !slices.Equal(ea, eb) {
		t.Fatalf("%s: watchers saw\n%v\nfull\n%v", where, ea, eb)
	}
}

// events drains the twin's watcher, without times.
func events(tw *twin) []string {
	evs, _ := tw.e.Next(tw.w)
	var out []string
	for _, e := range evs {
		if f := e.GetForward(); f != nil {
			c := proto.CloneOf(f)
			c.Forward.Since = nil
			out = append(out, c.String())
		}
	}
	return out
}

// Two sockets of one distro on one address and port (SO_REUSEPORT): one
// forward, carried for the second. When both close, an incremental step
// must remove the forward's entry, which it finds by the table's row of
// the wanted socket.
func TestSharedPortForwardGoesWithItsSockets(t *testing.T) {
	be := daemontest.NewBackend()
	e, _ := bareEngine(t, be, config.Default())
	s := openAgent(t, e, "Ubuntu", "127.0.0.1:50000")
	a, b := daemontest.TCPListener("0.0.0.0", 8080), daemontest.TCPListener("0.0.0.0", 8080)
	a.Inode, b.Inode = 100, 200
	snap := &wslfwdv1.AgentMessage{Msg: &wslfwdv1.AgentMessage_Snapshot{Snapshot: &wslfwdv1.Snapshot{
		Seq: 1, Network: daemontest.Network(), Listeners: []*wslfwdv1.Listener{a, b}}}}
	if err := e.Registry().Apply(s, snap); err != nil {
		t.Fatal(err)
	}
	e.Step(context.Background(), false)
	entries, err := be.List(context.Background())
	if err != nil || len(entries) != 1 {
		t.Fatalf("with two sockets on one port the backend holds %v (%v), want one entry", entries, err)
	}
	fwds := e.Forwards(false)
	if len(fwds) != 1 {
		t.Fatalf("forwards %v, want the one", fwds)
	}
	gone := &wslfwdv1.AgentMessage{Msg: &wslfwdv1.AgentMessage_Changes{Changes: &wslfwdv1.Changes{
		Seq: 2, Removed: []*wslfwdv1.Listener{a, b}}}}
	if err := e.Registry().Apply(s, gone); err != nil {
		t.Fatal(err)
	}
	e.Step(context.Background(), false)
	if entries, err := be.List(context.Background()); err != nil || len(entries) != 0 {
		t.Fatalf("after both sockets closed the backend holds %v (%v), want nothing", entries, err)
	}
}

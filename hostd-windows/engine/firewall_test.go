package engine

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/hostd-windows/backend"
	"github.com/wslfwd/wslfwd/hostd-windows/firewall"
	"github.com/wslfwd/wslfwd/internal/waitfor"
)

// FakeFirewall records what it was asked to sync and fails while failing
// is set. It is exported for the package's external tests.
type FakeFirewall struct {
	mu      sync.Mutex
	failing bool
	calls   int
	synced  []firewall.Rule // last set synced without error: the rules that exist
}

func (f *FakeFirewall) Sync(_ context.Context, rules []firewall.Rule) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.failing {
		return errors.New("netsh: access denied")
	}
	f.synced = slices.Clone(rules)
	return nil
}

func (f *FakeFirewall) Rules(context.Context) ([]firewall.Rule, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failing {
		return nil, errors.New("netsh: access denied")
	}
	return slices.Clone(f.synced), nil
}

// SetFailing makes Sync and Rules fail, or work again.
func (f *FakeFirewall) SetFailing(failing bool) {
	f.mu.Lock()
	f.failing = failing
	f.mu.Unlock()
}

// State is how often Sync was called and the rules that exist.
func (f *FakeFirewall) State() (calls int, synced []firewall.Rule) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls, f.synced
}

func TestFirewallRulesByMode(t *testing.T) {
	mk := func(distro string, st wslfwdv1.ForwardState, p wslfwdv1.Protocol, port uint32) *row {
		return &row{fwd: &wslfwdv1.Forward{Distro: distro, State: st, Protocol: p, ListenPort: port}}
	}
	tcp, udp := wslfwdv1.Protocol_PROTOCOL_TCP, wslfwdv1.Protocol_PROTOCOL_UDP
	table := map[rowKey]*row{
		{port: 1}: mk("nat", wslfwdv1.ForwardState_FORWARD_STATE_ACTIVE, tcp, 80),
		{port: 2}: mk("nat", wslfwdv1.ForwardState_FORWARD_STATE_BLOCKED, tcp, 81),
		{port: 3}: mk("nat", wslfwdv1.ForwardState_FORWARD_STATE_ERROR, tcp, 82),
		{port: 4}: mk("mirrored", wslfwdv1.ForwardState_FORWARD_STATE_DIRECT, udp, 53),
		{port: 5}: mk("wsl1", wslfwdv1.ForwardState_FORWARD_STATE_DIRECT, tcp, 22),
		{port: 6}: mk("bridged", wslfwdv1.ForwardState_FORWARD_STATE_DIRECT, tcp, 23),
		{port: 7}: mk("nat", wslfwdv1.ForwardState_FORWARD_STATE_ACTIVE, tcp, 80), // same port twice
		{port: 8}: mk("nat", wslfwdv1.ForwardState_FORWARD_STATE_ERROR, tcp, 83),
		// Bound to loopback: the LAN cannot reach it, and a rule on its
		// port would open the port for every other program of the host.
		{port: 9}: {fwd: &wslfwdv1.Forward{Distro: "mirrored", State: wslfwdv1.ForwardState_FORWARD_STATE_DIRECT,
			Protocol: tcp, ListenPort: 5432, ListenerAddress: "127.0.0.1"}},
	}
	// An entry that exists but does not work (nothing listens yet) keeps
	// its rule; an entry that could not be made (port 82) has none.
	table[rowKey{port: 8}].exists = true
	modes := map[string]wslfwdv1.NetworkingMode{
		"nat":      wslfwdv1.NetworkingMode_NETWORKING_MODE_NAT,
		"mirrored": wslfwdv1.NetworkingMode_NETWORKING_MODE_MIRRORED,
		"wsl1":     wslfwdv1.NetworkingMode_NETWORKING_MODE_WSL1,
		"bridged":  wslfwdv1.NetworkingMode_NETWORKING_MODE_BRIDGED,
	}
	want := []firewall.Rule{
		{Kind: firewall.HyperV, Protocol: backend.UDP, Port: 53},
		{Kind: firewall.Windows, Protocol: backend.TCP, Port: 22},
		{Kind: firewall.Windows, Protocol: backend.TCP, Port: 80},
		{Kind: firewall.Windows, Protocol: backend.TCP, Port: 83},
	}
	rules := ruleCounts{}
	for _, r := range table {
		r.rule, r.hasRule = ruleOf(r, modes[r.fwd.GetDistro()])
		rules.add(r)
	}
	if got := rules.list(); !slices.Equal(got, want) {
		t.Fatalf("rules = %v, want %v", got, want)
	}
	// Each row counts: the rule of port 80 stays while one row needs it.
	if rules.remove(table[rowKey{port: 7}]) || !rules.remove(table[rowKey{port: 8}]) {
		t.Fatal("removing rows: a rule another row needs went, or one nobody needs stayed")
	}
}

// Only a change of the wanted rules wakes the syncer: the engine calls set
// after every run, and netsh must not run for runs that change nothing.
func TestFirewallSyncSetWakesOnlyOnChange(t *testing.T) {
	fw := &FakeFirewall{}
	s := newFirewallSync(fw, slog.New(slog.DiscardHandler), time.Time{})
	rules := []firewall.Rule{{Kind: firewall.Windows, Protocol: backend.TCP, Port: 80}}
	s.set(rules)
	if len(s.kick) != 1 {
		t.Fatal("first set did not wake the syncer")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.run(ctx); close(done) }()
	waitfor.Cond(t, 10*time.Second, "the first sync", func() bool { _, got := fw.State(); return slices.Equal(got, rules) })
	cancel()
	<-done

	s.set(slices.Clone(rules))
	if len(s.kick) != 0 {
		t.Fatal("setting the rules already synced woke the syncer")
	}
	s.set(nil)
	if len(s.kick) != 1 {
		t.Fatal("a changed rule set did not wake the syncer")
	}
}

// slowFirewall holds every Sync until the test releases it, so the test
// can change the wanted rules while a sync is under way.
type slowFirewall struct {
	entered chan []firewall.Rule
	release chan struct{}
}

func (f *slowFirewall) Rules(context.Context) ([]firewall.Rule, error) { return nil, nil }

func (f *slowFirewall) Sync(ctx context.Context, rules []firewall.Rule) error {
	f.entered <- slices.Clone(rules)
	select {
	case <-f.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// A listener that opens and closes while its rule is being made must
// not leave the rule behind: the syncer always ends at the last wanted
// set, whatever it was comparing against when set was called.
func TestFirewallSyncConvergesAfterChangeMidSync(t *testing.T) {
	fw := &slowFirewall{entered: make(chan []firewall.Rule), release: make(chan struct{})}
	s := newFirewallSync(fw, slog.New(slog.DiscardHandler), time.Time{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	next := func(what string) []firewall.Rule {
		t.Helper()
		select {
		case got := <-fw.entered:
			return got
		case <-time.After(5 * time.Second):
			t.Fatalf("no sync of %s", what)
			return nil
		}
	}

	s.set(nil)
	next("the empty set")
	fw.release <- struct{}{}
	open := []firewall.Rule{{Kind: firewall.Windows, Protocol: backend.TCP, Port: 8080}}
	s.set(open)
	if got := next("the opened listener's rule"); !slices.Equal(got, open) {
		t.Fatalf("synced %v, want %v", got, open)
	}
	s.set(nil) // closed while its rule is being made
	fw.release <- struct{}{}
	if got := next("the set after the listener closed"); len(got) != 0 {
		t.Fatalf("synced %v, want no rules", got)
	}
	fw.release <- struct{}{}
}

// After a restart the rules found at the first sync stay until the hold
// ends, while wanted rules come and go as usual; then the ones nobody
// wants go.
func TestFirewallSyncKeepsRulesFoundAtStartUntilTheHoldEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		old := firewall.Rule{Kind: firewall.HyperV, Protocol: backend.TCP, Port: 8080} // a mirrored listener's
		fw := &FakeFirewall{synced: []firewall.Rule{old}}
		s := newFirewallSync(fw, slog.New(slog.DiscardHandler), time.Now().Add(30*time.Second))
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go s.run(ctx)

		now := firewall.Rule{Kind: firewall.Windows, Protocol: backend.TCP, Port: 9000}
		s.set([]firewall.Rule{now})
		synctest.Wait()
		if _, got := fw.State(); !slices.Equal(got, []firewall.Rule{now, old}) {
			t.Fatalf("rules during the hold = %v, want the new one and the held one", got)
		}
		time.Sleep(29 * time.Second)
		synctest.Wait()
		if _, got := fw.State(); !slices.Contains(got, old) {
			t.Fatalf("the held rule went before the hold ended: %v", got)
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if _, got := fw.State(); !slices.Equal(got, []firewall.Rule{now}) {
			t.Fatalf("rules after the hold = %v, want only the wanted one", got)
		}
	})
}

// runFirewallSync runs a syncer of fw, without a hold, until the test
// ends.
func runFirewallSync(t *testing.T, fw FirewallSyncer) *firewallSync {
	s := newFirewallSync(fw, slog.New(slog.DiscardHandler), time.Time{})
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	go s.run(ctx)
	return s
}

// While rules are wanted the syncer syncs them again every s.every with
// nothing changed, so a rule deleted or disabled by hand since is
// remade; with none wanted the ticks run nothing.
func TestFirewallSyncRechecksWhileRulesAreWanted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fw := &FakeFirewall{}
		s := runFirewallSync(t, fw)

		s.set([]firewall.Rule{{Kind: firewall.Windows, Protocol: backend.TCP, Port: 80}})
		synctest.Wait()
		if calls, _ := fw.State(); calls != 1 {
			t.Fatalf("%d syncs after the first set, want 1", calls)
		}
		time.Sleep(s.every)
		synctest.Wait()
		if calls, _ := fw.State(); calls != 2 {
			t.Fatalf("%d syncs after %v with the same rules wanted, want 2: a rule deleted by hand would stay gone", calls, s.every)
		}
		s.set(nil)
		synctest.Wait()
		time.Sleep(3 * s.every)
		synctest.Wait()
		if calls, _ := fw.State(); calls != 3 {
			t.Fatalf("%d syncs, want 3: with no rules wanted the checks ran", calls)
		}
	})
}

// policyFirewall makes every rule, which Group Policy then ignores.
type policyFirewall struct{ calls atomic.Int32 }

func (f *policyFirewall) Rules(context.Context) ([]firewall.Rule, error) { return nil, nil }

func (f *policyFirewall) Sync(context.Context, []firewall.Rule) error {
	f.calls.Add(1)
	return &firewall.LocalRulesIgnored{Profiles: []string{"Domain"}}
}

// Group Policy that ignores local rules is reported as such, and not
// retried with backoff (nothing the daemon does mends it): the next
// check is the periodic one.
func TestFirewallSyncLocalRulesIgnored(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fw := &policyFirewall{}
		s := runFirewallSync(t, fw)

		rules := []firewall.Rule{{Kind: firewall.Windows, Protocol: backend.TCP, Port: 80}}
		s.set(rules)
		synctest.Wait()
		if p := s.problem(); p.GetCode() != "firewall-local-rules-ignored" {
			t.Fatalf("problem = %v, want firewall-local-rules-ignored", p)
		}
		time.Sleep(s.every - time.Second)
		s.set(slices.Clone(rules))
		synctest.Wait()
		if n := fw.calls.Load(); n != 1 {
			t.Fatalf("%d syncs before the next check, want 1: the policy was retried", n)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if n := fw.calls.Load(); n != 2 {
			t.Fatalf("%d syncs at the next check, want 2", n)
		}
	})
}

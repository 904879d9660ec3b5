package kernel

import (
	"context"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"testing"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/hostd-windows/backend"
	"github.com/wslfwd/wslfwd/hostd-windows/ledger"
	"github.com/wslfwd/wslfwd/hostd-windows/reconcile"
)

// foreignTables look like wslfwd's: one has its name in another family,
// the other its chains' names; each holds a DNAT rule of wslfwd's shape.
var foreignTables = []*nftables.Table{
	{Family: nftables.TableFamilyIPv4, Name: TableName},
	{Family: nftables.TableFamilyINet, Name: "wslfwd-other"},
}

// TestNeverTouchesForeignTables: starting, adding, listing, removing and
// closing leave other tables exactly as they were, even one named like
// wslfwd's and holding a forward at the same key.
func TestNeverTouchesForeignTables(t *testing.T) {
	needNS(t)
	e := backend.Entry{Protocol: backend.TCP,
		Listen:  netip.AddrPortFrom(listenAddr, 18080),
		Connect: netip.MustParseAddrPort("127.0.0.1:18081")}
	c, err := nftables.New()
	if err != nil {
		t.Fatal(err)
	}
	for _, ft := range foreignTables {
		makeForeign(t, c, ft, e)
	}
	before := snapshot(t, c)

	b := newTestBackend(t)
	ctx := context.Background()
	if err := b.Apply(ctx, backend.Batch{Add: []backend.Entry{e}}); err != nil {
		t.Fatalf("Apply add: %v", err)
	}
	if got, err := b.List(ctx); err != nil || len(got) != 1 || got[0] != e {
		t.Fatalf("List = %v, %v; want only %s (not the foreign tables' rules)", got, err, e)
	}
	if err := b.Apply(ctx, backend.Batch{Remove: []backend.Entry{e}}); err != nil {
		t.Fatalf("Apply remove: %v", err)
	}
	b.Close()
	newTestBackend(t).Close()

	if after := snapshot(t, c); !reflect.DeepEqual(before, after) {
		t.Errorf("foreign tables changed:\nbefore %v\nafter  %v", before, after)
	}
}

// makeForeign makes a table with wslfwd's chains, a DNAT rule for e in
// its forwards chain, and deletes the table when t ends.
func makeForeign(t *testing.T, c *nftables.Conn, ft *nftables.Table, e backend.Entry) {
	t.Helper()
	c.AddTable(ft)
	fwd := c.AddChain(&nftables.Chain{Name: forwardsChain, Table: ft})
	for _, bc := range baseChains() {
		bc.Table = ft
		c.AddChain(bc)
		c.AddRule(&nftables.Rule{Table: ft, Chain: bc, Exprs: []expr.Any{&expr.Verdict{Kind: expr.VerdictJump, Chain: forwardsChain}}})
	}
	ex := ruleExprs(e)
	if ft.Family == nftables.TableFamilyIPv4 {
		ex = ex[2:] // an ip table holds IPv4 only: no nfproto match
	}
	c.AddRule(&nftables.Rule{Table: ft, Chain: fwd, Exprs: ex})
	if err := c.Flush(); err != nil {
		t.Fatalf("make foreign table %v %s: %v", ft.Family, ft.Name, err)
	}
	t.Cleanup(func() {
		c.DelTable(ft)
		if err := c.Flush(); err != nil {
			t.Errorf("delete foreign table %s: %v", ft.Name, err)
		}
	})
}

// snapshot renders every chain and rule of the foreign tables.
func snapshot(t *testing.T, c *nftables.Conn) []string {
	t.Helper()
	var out []string
	for _, ft := range foreignTables {
		chains, err := c.ListChainsOfTableFamily(ft.Family)
		if err != nil {
			t.Fatal(err)
		}
		for _, ch := range chains {
			if ch.Table.Name != ft.Name {
				continue
			}
			rs, err := c.GetRules(ft, ch)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, fmt.Sprintf("%v %s %s hook=%v prio=%v type=%s", ft.Family, ft.Name, ch.Name, deref(ch.Hooknum), deref(ch.Priority), ch.Type))
			for _, r := range rs {
				out = append(out, fmt.Sprintf("  rule %d %#v", r.Handle, exprStrings(r.Exprs)))
			}
		}
	}
	return out
}

func exprStrings(ex []expr.Any) []string {
	var out []string
	for _, x := range ex {
		out = append(out, fmt.Sprintf("%T%+v", x, x))
	}
	return out
}

func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

// handMade is wslfwd's rule for own, reconciled as wanted, with a rule
// added by hand at its key towards users, for the tests of a key that
// several rules forward.
type handMade struct {
	b          *Backend
	r          *reconcile.Reconciler
	led        *ledger.Ledger
	c          *nftables.Conn
	own, users backend.Entry
	want       reconcile.Plan
}

// withHandMade makes wslfwd's rule on port and a hand-made one at its
// key, put ahead of it (the one that matches) or behind.
func withHandMade(t *testing.T, port uint16, ahead bool) *handMade {
	t.Helper()
	needNS(t)
	h := &handMade{b: newTestBackend(t)}
	t.Cleanup(func() { h.b.Close() })
	h.own = backend.Entry{Protocol: backend.TCP, Listen: netip.AddrPortFrom(listenAddr, port), Connect: netip.MustParseAddrPort("10.77.0.9:80")}
	h.users = backend.Entry{Protocol: backend.TCP, Listen: h.own.Listen, Connect: netip.MustParseAddrPort("10.77.0.8:80")}
	var err error
	if h.led, err = ledger.Open(t.TempDir(), "kernel"); err != nil {
		t.Fatal(err)
	}
	h.r = reconcile.New(h.b, h.led, nil)
	h.want = reconcile.Plan{Want: []ledger.Record{{Entry: h.own, Distro: "Ubuntu"}}}
	h.r.Reconcile(context.Background(), h.want)
	if h.c, err = nftables.New(); err != nil {
		t.Fatal(err)
	}
	rule := &nftables.Rule{Table: table, Chain: forwards, Exprs: ruleExprs(h.users)}
	if ahead {
		h.c.InsertRule(rule)
	} else {
		h.c.AddRule(rule)
	}
	if err := h.c.Flush(); err != nil {
		t.Fatal(err)
	}
	return h
}

// A rule added by hand ahead of wslfwd's own at its key hides it: the key
// is obscured, not the hand-made rule's, so the reconciler keeps owning
// wslfwd's rule (CONFLICT while the other matches first) and removes it
// once it is not wanted and the other is gone, rather than forget it and
// leave it forwarding to an old target for good.
func TestShadowedOwnRuleStaysOwned(t *testing.T) {
	h := withHandMade(t, 18090, true)
	ctx := context.Background()
	if got, obscured, err := h.b.ListObscured(ctx); err != nil || len(got) != 1 || got[0] != h.users || len(obscured) != 1 || obscured[0] != h.own.Key() {
		t.Fatalf("ListObscured = %v, %v, %v; want the rule that matches, and its key obscured", got, obscured, err)
	}
	rep := h.r.Reconcile(ctx, h.want)
	if o := rep.Outcomes[h.own.Key()]; o.State != wslfwdv1.ForwardState_FORWARD_STATE_CONFLICT {
		t.Errorf("with the hand-made rule ahead: %v %q, want CONFLICT", o.State, o.Reason)
	}
	if !slices.Contains(h.led.Entries(), h.own) {
		t.Fatalf("the ledger forgot wslfwd's rule: %v", h.led.Entries())
	}

	rs, err := h.c.GetRules(table, forwards)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range rs {
		if e, err := decode(x.Exprs); err == nil && e == h.users {
			if err := h.c.DelRule(x); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := h.c.Flush(); err != nil {
		t.Fatal(err)
	}
	h.r.Reconcile(ctx, reconcile.Plan{})
	if got, err := h.b.List(ctx); err != nil || len(got) != 0 {
		t.Errorf("after the service and the hand-made rule went: %v, %v; want wslfwd's rule removed", got, err)
	}
}

// A rule added by hand behind wslfwd's own at its key never matches:
// wslfwd's stays in effect, listed and owned, and is removed when it is no
// longer wanted, leaving the hand-made one alone.
func TestRuleBehindOwnLeavesItManaged(t *testing.T) {
	h := withHandMade(t, 18091, false)
	ctx := context.Background()
	rep := h.r.Reconcile(ctx, h.want)
	// ACTIVE, or ERROR from the check that forwarding is on (it is not in
	// the test's namespace): either way wslfwd's, existing.
	if o := rep.Outcomes[h.own.Key()]; !o.Exists && o.State != wslfwdv1.ForwardState_FORWARD_STATE_ACTIVE {
		t.Errorf("with a hand-made rule behind it: %v %q, want wslfwd's entry in effect", o.State, o.Reason)
	}
	h.r.Reconcile(ctx, reconcile.Plan{})
	if got, err := h.b.List(ctx); err != nil || len(got) != 1 || got[0] != h.users {
		t.Errorf("after the service stopped: %v, %v; want only the hand-made rule", got, err)
	}
	if len(h.led.Entries()) != 0 {
		t.Errorf("the ledger still owns %v", h.led.Entries())
	}
}

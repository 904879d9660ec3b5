package kernel

import (
	"context"
	"net/netip"
	"testing"

	"github.com/wslfwd/wslfwd/hostd-windows/backend"
)

// TestReadRulesSeesWhatApplyWrote: ReadRules lists the rule Apply made,
// and a second backend started on the same table (a daemon's restart)
// keeps that rule with the same handle: it was never deleted and added
// again.
func TestReadRulesSeesWhatApplyWrote(t *testing.T) {
	needNS(t)
	e := backend.Entry{Protocol: backend.TCP,
		Listen:  netip.AddrPortFrom(listenAddr, 18090),
		Connect: netip.MustParseAddrPort("127.0.0.1:18091")}
	b := newTestBackend(t)
	ctx := context.Background()
	if err := b.Apply(ctx, backend.Batch{Add: []backend.Entry{e}}); err != nil {
		t.Fatalf("Apply add: %v", err)
	}
	before := findRule(t, e)
	b.Close()
	b = newTestBackend(t)
	defer b.Close()
	if after := findRule(t, e); after != before {
		t.Errorf("after a second New: rule %+v, want %+v unchanged", after, before)
	}
	if err := b.Apply(ctx, backend.Batch{Remove: []backend.Entry{e}}); err != nil {
		t.Fatalf("Apply remove: %v", err)
	}
	rs, err := ReadRules()
	for _, r := range rs {
		if r.Entry.Key() == e.Key() {
			t.Errorf("ReadRules after the remove: %+v still there", r)
		}
	}
	if err != nil {
		t.Fatal(err)
	}
}

// findRule returns the one rule ReadRules lists for e, failing t when
// there is none.
func findRule(t *testing.T, e backend.Entry) Rule {
	t.Helper()
	rs, err := ReadRules()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		if r.Entry == e {
			return r
		}
	}
	t.Fatalf("ReadRules = %+v; want a rule for %s", rs, e)
	return Rule{}
}

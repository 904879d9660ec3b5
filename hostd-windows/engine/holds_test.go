package engine

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/wslfwd/wslfwd/hostd-windows/agents"
	"github.com/wslfwd/wslfwd/hostd-windows/backend"
	"github.com/wslfwd/wslfwd/hostd-windows/ledger"
)

// A hold ends when its distro's agent is back or grace is over; an entry
// of an old ledger, without a distro, waits for grace alone.
func TestHoldsEnd(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	rec := func(distro string, port uint16) ledger.Record {
		return ledger.Record{Entry: backend.Entry{Protocol: backend.TCP, Listen: netip.AddrPortFrom(netip.IPv4Unspecified(), port),
			Connect: netip.MustParseAddrPort("172.28.240.53:80")}, Distro: distro}
	}
	old, ubuntu, debian := rec("", 1), rec("Ubuntu", 2), rec("Debian", 3)
	h := holds{until: t0.Add(time.Minute), records: []ledger.Record{old, ubuntu, debian}}
	back := []agents.Agent{{Distro: "Ubuntu"}}
	if got := h.current(t0, back); !slices.Equal(got, []ledger.Record{old, debian}) {
		t.Fatalf("held with Ubuntu's agent back = %v, want %v", got, []ledger.Record{old, debian})
	}
	// Once its agent was back, a distro is never held again.
	if got := h.current(t0.Add(time.Second), nil); !slices.Equal(got, []ledger.Record{old, debian}) {
		t.Fatalf("held later = %v", got)
	}
	if got := h.current(t0.Add(time.Minute), nil); len(got) != 0 {
		t.Fatalf("held after grace = %v, want nothing", got)
	}
}

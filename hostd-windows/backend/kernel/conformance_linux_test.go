package kernel

import (
	"log/slog"
	"testing"

	"github.com/google/nftables"

	"github.com/wslfwd/wslfwd/hostd-windows/backend"
	"github.com/wslfwd/wslfwd/hostd-windows/backend/backendtest"
)

// newTestBackend returns a backend logging to the test's output.
func newTestBackend(t *testing.T) *Backend {
	t.Helper()
	h := slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})
	b, err := New(Options{Logger: slog.New(h)})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestConformance runs the suite with clients on this host dialling an
// address of its own (the output chain's path) to echo servers on
// loopback. The path from other machines (prerouting, then forwarding)
// is what `lab bench` measures.
func TestConformance(t *testing.T) {
	needNS(t)
	backendtest.Run(t, backendtest.Harness{
		New:            func(t *testing.T) backend.Backend { return newTestBackend(t) },
		ListenAddr:     listenAddr,
		ConnectTarget:  backendtest.Echo,
		CarriesTraffic: true,
		Protocols:      []backend.Protocol{backend.TCP, backend.UDP},
		FreePort:       func(t *testing.T) uint16 { return backendtest.FreePort(t, listenAddr) },
		Occupy: func(t *testing.T, p backend.Protocol) uint16 {
			return backendtest.Occupy(t, listenAddr, p)
		},
		Foreign:               addByHand,
		PersistsAcrossRestart: true,
	})
}

// addByHand adds a forward's rule to wslfwd's table over a netlink socket
// of its own, as a user with nft would, and deletes it when t ends.
func addByHand(t *testing.T, e backend.Entry) {
	t.Helper()
	c, err := nftables.New()
	if err != nil {
		t.Fatal(err)
	}
	c.AddRule(&nftables.Rule{Table: table, Chain: forwards, Exprs: ruleExprs(e)})
	if err := c.Flush(); err != nil {
		t.Fatalf("add a rule by hand: %v", err)
	}
	t.Cleanup(func() {
		rs, err := c.GetRules(table, forwards)
		if err != nil {
			t.Errorf("read the rules to delete the hand-made one: %v", err)
			return
		}
		for _, r := range rs {
			if got, err := decode(r.Exprs); err == nil && got == e {
				_ = c.DelRule(r)
			}
		}
		if err := c.Flush(); err != nil {
			t.Errorf("delete the hand-made rule: %v", err)
		}
	})
}

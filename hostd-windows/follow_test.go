package main

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wslfwd/wslfwd/internal/waitfor"
)

// The follower listens on the adapter's address once it appears, moves
// when it changes, stops when it goes, and reports each new address.
// 127.0.0.2 and 127.0.0.3 stand in for successive WSL adapter addresses.
func TestFollowerTracksTheWSLAdapter(t *testing.T) {
	var mu sync.Mutex
	addr, lookupErr := netip.Addr{}, errors.New("adapter vEthernet (WSL) not found")
	setAddr := func(a netip.Addr, err error) {
		mu.Lock()
		addr, lookupErr = a, err
		mu.Unlock()
	}
	port := freePort(t)
	changed := make(chan netip.AddrPort, 4)
	f := &follower{
		lookup: func() (netip.Addr, error) {
			mu.Lock()
			defer mu.Unlock()
			return addr, lookupErr
		},
		port: port,
		serve: func(l net.Listener) error { // accept and close: enough to tell listening from not
			for {
				c, err := l.Accept()
				if err != nil {
					return err
				}
				c.Close()
			}
		},
		onChange: func(_ context.Context, ap netip.AddrPort) error { changed <- ap; return nil },
		interval: 5 * time.Millisecond,
		log:      slog.New(slog.DiscardHandler),
	}
	runFollower(t, f)

	at := func(a string) netip.AddrPort { return netip.AddrPortFrom(netip.MustParseAddr(a), port) }
	listening := func(ap netip.AddrPort) bool {
		c, err := net.DialTimeout("tcp", ap.String(), time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	}
	waitUntil := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting until %s", what)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}

	if got := f.listenAddrs()(); len(got) != 0 {
		t.Fatalf("listening on %v before the adapter exists", got)
	}
	setAddr(netip.MustParseAddr("127.0.0.2"), nil)
	if got := <-changed; got != at("127.0.0.2") {
		t.Fatalf("onChange(%v), want %v", got, at("127.0.0.2"))
	}
	waitUntil("127.0.0.2 accepts", func() bool { return listening(at("127.0.0.2")) })

	setAddr(netip.MustParseAddr("127.0.0.3"), nil)
	if got := <-changed; got != at("127.0.0.3") {
		t.Fatalf("onChange(%v), want %v", got, at("127.0.0.3"))
	}
	waitUntil("the old address is released", func() bool { return !listening(at("127.0.0.2")) })
	if !listening(at("127.0.0.3")) {
		t.Fatal("not listening on the new address")
	}
	if got := f.listenAddrs()(); len(got) != 1 || got[0] != at("127.0.0.3") {
		t.Fatalf("listenAddrs = %v, want [%v]", got, at("127.0.0.3"))
	}

	setAddr(netip.Addr{}, errors.New("adapter gone"))
	waitUntil("the address is released when the adapter goes", func() bool { return len(f.listenAddrs()()) == 0 })
	if listening(at("127.0.0.3")) {
		t.Fatal("still listening after the adapter went")
	}
}

// runFollower runs f until t ends.
func runFollower(t *testing.T, f *follower) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

func freePort(t *testing.T) uint16 {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return uint16(l.Addr().(*net.TCPAddr).Port)
}

// A failed onChange (the daemon's firewall rule not made) shows as a
// problem and is tried again without the address changing, until it
// works.
func TestFollowerRetriesFailedRule(t *testing.T) {
	results := make(chan error)
	port := freePort(t)
	f := &follower{
		lookup: func() (netip.Addr, error) { return netip.MustParseAddr("127.0.0.1"), nil },
		port:   port,
		serve:  func(l net.Listener) error { _, err := l.Accept(); return err },
		onChange: func(ctx context.Context, _ netip.AddrPort) error {
			select {
			case err := <-results:
				return err
			case <-ctx.Done():
				return ctx.Err()
			}
		},
		interval: 5 * time.Millisecond,
		log:      slog.New(slog.DiscardHandler),
	}
	runFollower(t, f)
	answer := func(what string, err error) {
		t.Helper()
		select {
		case results <- err:
		case <-time.After(10 * time.Second):
			t.Fatalf("onChange not called for %s", what)
		}
	}

	answer("the new address", errors.New("netsh: access denied"))
	waitfor.Cond(t, 10*time.Second, "the failure to show as a problem", func() bool {
		ps := f.problems()
		return len(ps) == 1 && ps[0].GetCode() == "daemon-firewall-rule-failed" && strings.Contains(ps[0].GetMessage(), "access denied")
	})
	answer("a retry of the same address", errors.New("netsh: access denied"))
	answer("a second retry", nil)
	waitfor.Cond(t, 10*time.Second, "the problem to clear", func() bool { return len(f.problems()) == 0 })
}

// After onChange worked, it is called again every recheck for the same
// address: the daemon's firewall rule, disabled or deleted by hand since,
// is remade.
func TestFollowerRechecksRule(t *testing.T) {
	calls := make(chan struct{})
	f := &follower{
		lookup: func() (netip.Addr, error) { return netip.MustParseAddr("127.0.0.1"), nil },
		port:   freePort(t),
		serve:  func(l net.Listener) error { _, err := l.Accept(); return err },
		onChange: func(ctx context.Context, _ netip.AddrPort) error {
			select {
			case calls <- struct{}{}:
			case <-ctx.Done():
			}
			return nil
		},
		interval: 5 * time.Millisecond,
		recheck:  5 * time.Millisecond,
		log:      slog.New(slog.DiscardHandler),
	}
	runFollower(t, f)
	for _, what := range []string{"the new address", "a recheck", "a second recheck"} {
		select {
		case <-calls:
		case <-time.After(10 * time.Second):
			t.Fatalf("onChange not called for %s", what)
		}
	}
	if ps := f.problems(); len(ps) != 0 {
		t.Errorf("problems = %v after rechecks that worked", ps)
	}
}

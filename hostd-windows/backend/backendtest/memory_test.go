package backendtest

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"testing"

	"github.com/wslfwd/wslfwd/hostd-windows/backend"
)

// memStore is a persisting backend's store, like portproxy's registry: it
// outlives every memBackend over it.
type memStore struct {
	mu      sync.Mutex
	entries map[backend.Key]backend.Entry
	busy    map[backend.Key]bool // ports held by other programs
}

// memBackend is a TCP-only backend over a memStore, written to the
// suite's contract, so the suite's persisting and foreign-entry paths
// (which the relay does not take) are exercised here.
type memBackend struct {
	s      *memStore
	closed bool
}

func (b *memBackend) Name() string                     { return "memory" }
func (b *memBackend) Supports(p backend.Protocol) bool { return p == backend.TCP }
func (b *memBackend) Durable() bool                    { return true } // the store outlives it

func (b *memBackend) List(context.Context) ([]backend.Entry, error) {
	b.s.mu.Lock()
	defer b.s.mu.Unlock()
	var out []backend.Entry
	for _, e := range b.s.entries {
		out = append(out, e)
	}
	return out, nil
}

func (b *memBackend) Apply(_ context.Context, batch backend.Batch) error {
	if b.closed {
		return errors.New("closed")
	}
	b.s.mu.Lock()
	defer b.s.mu.Unlock()
	var failed []backend.Failure
	for _, e := range batch.Remove {
		if cur, ok := b.s.entries[e.Key()]; ok && cur != e {
			failed = append(failed, backend.Failure{Entry: e, Remove: true, Err: errors.New("other target")})
			continue
		}
		delete(b.s.entries, e.Key())
	}
	for _, e := range batch.Add {
		var err error
		cur, exists := b.s.entries[e.Key()]
		switch {
		case !b.Supports(e.Protocol):
			err = backend.ErrUnsupported
		case e.Listen.Port() == 0 || e.Connect.Port() == 0 || !e.Connect.Addr().IsValid():
			err = errors.New("invalid")
		case exists && cur == e:
			err = backend.ErrExists
		case exists, b.s.busy[e.Key()]:
			err = backend.ErrPortInUse
		}
		if err != nil {
			failed = append(failed, backend.Failure{Entry: e, Err: fmt.Errorf("add: %w", err)})
			continue
		}
		b.s.entries[e.Key()] = e
	}
	if failed != nil {
		return &backend.ApplyError{Failures: failed}
	}
	return nil
}

func (b *memBackend) Close() error { b.closed = true; return nil }

// TestSuiteOnPersistingBackend runs the suite against memBackend with
// every optional part of the harness in use, and checks that the suite
// leaves the store as it found it.
func TestSuiteOnPersistingBackend(t *testing.T) {
	s := &memStore{entries: make(map[backend.Key]backend.Entry), busy: make(map[backend.Key]bool)}
	listen := netip.MustParseAddr("0.0.0.0")
	var (
		mu   sync.Mutex
		next uint16 = 20000
	)
	counter := func() uint16 { mu.Lock(); defer mu.Unlock(); next++; return next }
	Run(t, Harness{
		New:        func(*testing.T) backend.Backend { return &memBackend{s: s} },
		ListenAddr: listen,
		// Documentation addresses: nothing is ever sent to them.
		ConnectTarget: func(*testing.T, backend.Protocol) netip.AddrPort {
			return netip.AddrPortFrom(netip.MustParseAddr("192.0.2.1"), counter())
		},
		Protocols: []backend.Protocol{backend.TCP},
		FreePort:  func(*testing.T) uint16 { return counter() },
		Occupy: func(t *testing.T, p backend.Protocol) uint16 {
			port := counter()
			k := backend.Key{Protocol: p, Listen: netip.AddrPortFrom(listen, port)}
			s.mu.Lock()
			s.busy[k] = true
			s.mu.Unlock()
			t.Cleanup(func() { s.mu.Lock(); delete(s.busy, k); s.mu.Unlock() })
			return port
		},
		Foreign: func(t *testing.T, e backend.Entry) {
			s.mu.Lock()
			s.entries[e.Key()] = e
			s.mu.Unlock()
			t.Cleanup(func() { s.mu.Lock(); delete(s.entries, e.Key()); s.mu.Unlock() })
		},
		PersistsAcrossRestart: true,
	})
	if len(s.entries) != 0 {
		t.Errorf("the suite left entries behind: %v", s.entries)
	}
}

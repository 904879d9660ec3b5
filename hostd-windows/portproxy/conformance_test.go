package portproxy

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/wslfwd/wslfwd/hostd-windows/backend"
	"github.com/wslfwd/wslfwd/hostd-windows/backend/backendtest"
)

// TestConformance runs the backend suite over the fake netsh and the
// in-memory registry, with the real port check (a listen test on
// loopback) so a port the suite occupies is refused.
func TestConformance(t *testing.T) {
	loopback := netip.MustParseAddr("127.0.0.1")
	var (
		mu     sync.Mutex
		stores = make(map[*testing.T]*memStore) // one registry per test
		next   atomic.Uint32
	)
	storeFor := func(t *testing.T) *memStore {
		mu.Lock()
		defer mu.Unlock()
		if stores[t] == nil {
			stores[t] = newMemStore()
		}
		return stores[t]
	}
	backendtest.Run(t, backendtest.Harness{
		New: func(t *testing.T) backend.Backend {
			store := storeFor(t)
			check := &PortCheck{Bind: TryListen}
			return New(store, &fakeNetsh{store: store}, Options{CheckPort: check.Check})
		},
		ListenAddr: loopback,
		ConnectTarget: func(*testing.T, backend.Protocol) netip.AddrPort {
			// Never dialled: the fake carries no traffic.
			n := next.Add(1)
			return netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 1, byte(n >> 8), byte(n)}), 4000)
		},
		Protocols:             []backend.Protocol{backend.TCP},
		FreePort:              func(t *testing.T) uint16 { return backendtest.FreePort(t, loopback) },
		Occupy:                func(t *testing.T, p backend.Protocol) uint16 { return backendtest.Occupy(t, loopback, p) },
		PersistsAcrossRestart: true,
		Foreign: func(t *testing.T, e backend.Entry) {
			store := storeFor(t)
			v := valueOf(e)
			store.set(v.Kind, v.Name, v.Data)
			t.Cleanup(func() {
				store.mu.Lock()
				defer store.mu.Unlock()
				delete(store.tables[v.Kind], v.Name)
			})
		},
	})
}

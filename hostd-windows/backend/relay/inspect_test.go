package relay

import (
	"net/netip"
	"testing"
	"time"

	"github.com/wslfwd/wslfwd/hostd-windows/backend"
	"github.com/wslfwd/wslfwd/internal/waitfor"
)

// running returns the forward serving the key; it fails the test if there
// is none.
func (r *Relay) running(t *testing.T, k backend.Key) forward {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	f, ok := r.forwards[k]
	if !ok {
		t.Fatalf("no forward for %s", k)
	}
	return f.fwd
}

// flows returns the client flows of the UDP forward at the key.
func (r *Relay) flows(t *testing.T, k backend.Key) []netip.AddrPort {
	t.Helper()
	f := r.running(t, k).(*udpForward)
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []netip.AddrPort
	for c := range f.flows {
		out = append(out, c)
	}
	return out
}

// conns returns how many connections (client and target sides) the TCP
// forward at the key holds.
func (r *Relay) conns(t *testing.T, k backend.Key) int {
	t.Helper()
	f := r.running(t, k).(*tcpForward)
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.conns)
}

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	waitfor.Cond(t, 10*time.Second, what, cond)
}

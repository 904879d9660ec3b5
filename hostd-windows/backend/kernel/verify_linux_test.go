package kernel

import (
	"context"
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/wslfwd/wslfwd/hostd-windows/backend"
)

// TestVerifyForwarding: a forward to another machine is reported while
// the namespace does not forward, and not once it does; one to loopback
// needs no forwarding.
func TestVerifyForwarding(t *testing.T) {
	needNS(t)
	const sysctl = "/proc/sys/net/ipv4/ip_forward"
	set := func(v string) {
		t.Helper()
		if err := os.WriteFile(sysctl, []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { set("0") })
	far := backend.Entry{Protocol: backend.TCP, Listen: netip.AddrPortFrom(listenAddr, 1), Connect: netip.MustParseAddrPort("192.0.2.1:80")}
	near := backend.Entry{Protocol: backend.TCP, Listen: netip.AddrPortFrom(listenAddr, 2), Connect: netip.MustParseAddrPort("127.0.0.1:80")}
	b := newTestBackend(t)
	defer b.Close()

	set("0")
	got := b.Verify(context.Background(), []backend.Entry{far, near})
	if err := got[far]; err == nil || !strings.Contains(err.Error(), "net.ipv4.ip_forward is 0") {
		t.Errorf("Verify(%s) with forwarding off = %v, want it to name net.ipv4.ip_forward", far, err)
	}
	if err, ok := got[near]; ok {
		t.Errorf("Verify(%s) = %v; a loopback target needs no forwarding", near, err)
	}
	set("1")
	if got := b.Verify(context.Background(), []backend.Entry{far, near}); len(got) != 0 {
		t.Errorf("Verify with forwarding on = %v, want nothing", got)
	}
}

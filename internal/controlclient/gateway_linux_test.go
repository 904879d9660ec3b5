//go:build linux

package controlclient

import (
	"net"
	"net/netip"
	"os"
	"runtime"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// inNewNetns runs f on a thread inside a fresh, unnamed network namespace,
// which goes away with the handle once the thread has left it.
func inNewNetns(t *testing.T, f func()) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates a network namespace")
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer orig.Close()
	ns, err := netns.New()
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	defer func() {
		if err := netns.Set(orig); err != nil {
			// The thread cannot be trusted any more; keep it locked so
			// it dies with the goroutine.
			runtime.LockOSThread()
			t.Errorf("return to the original namespace: %v", err)
		}
	}()
	f()
}

func TestDefaultGateway4(t *testing.T) {
	inNewNetns(t, func() {
		if _, err := defaultGateway4(); err == nil {
			t.Error("a namespace without routes has a default gateway")
		}
		// A veth pair with both ends here: the lab's kernels have veth.
		link := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "eth0"}, PeerName: "eth0-peer"}
		if err := netlink.LinkAdd(link); err != nil {
			t.Fatal(err)
		}
		if err := netlink.LinkSetUp(link); err != nil {
			t.Fatal(err)
		}
		addr, _ := netlink.ParseAddr("192.0.2.53/24")
		if err := netlink.AddrAdd(link, addr); err != nil {
			t.Fatal(err)
		}
		for gw, prio := range map[string]int{"192.0.2.9": 200, "192.0.2.1": 100} {
			r := &netlink.Route{LinkIndex: link.Attrs().Index, Gw: net.ParseIP(gw), Priority: prio}
			if err := netlink.RouteAdd(r); err != nil {
				t.Fatal(err)
			}
		}
		// A more specific route with a gateway is not a default route.
		_, dst, _ := net.ParseCIDR("198.51.100.0/24")
		if err := netlink.RouteAdd(&netlink.Route{LinkIndex: link.Attrs().Index, Dst: dst, Gw: net.ParseIP("192.0.2.7")}); err != nil {
			t.Fatal(err)
		}
		gw, err := defaultGateway4()
		if err != nil || gw != netip.MustParseAddr("192.0.2.1") {
			t.Errorf("defaultGateway4() = %v, %v; want 192.0.2.1 (the lowest metric)", gw, err)
		}
	})
}

package policy

import (
	"net/netip"
	"testing"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/hostd-windows/backend"
	"github.com/wslfwd/wslfwd/hostd-windows/config"
)

// FuzzDecide feeds arbitrary listeners (as a misbehaving agent might send
// them) and checks the invariants the reconciler relies on: every want has a
// complete entry, no two wants claim one host key with different targets,
// and with portproxy no want listens on loopback.
func FuzzDecide(f *testing.F) {
	f.Add(uint8(1), "0.0.0.0", uint32(80), uint64(1), uint32(0), false, uint8(1), "::", uint32(80), false, true, uint8(0), false)
	f.Add(uint8(2), "::ffff:172.28.240.53", uint32(53), uint64(2), uint32(9), true, uint8(2), "fd00::53", uint32(53), true, true, uint8(1), true)
	f.Add(uint8(0), "bogus", uint32(70000), uint64(0), uint32(0), false, uint8(9), "127.0.0.1", uint32(0), false, false, uint8(2), true)
	f.Add(uint8(1), "0.0.0.0", uint32(8080), uint64(3), uint32(0), false, uint8(1), "::", uint32(8081), false, true, uint8(1), true)
	exposes := []netip.Addr{netip.IPv4Unspecified(), netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("10.2.3.1")}
	f.Fuzz(func(t *testing.T, p1 uint8, listen1 string, port1 uint32, inode1 uint64, pid1 uint32, v6only1 bool,
		p2 uint8, listen2 string, port2 uint32, v6only2 bool, ipv6 bool, expose uint8, portproxy bool) {
		cfg := config.Default()
		cfg.IPv6 = ipv6
		in := Input{Config: cfg, ExposeAddr: exposes[int(expose)%len(exposes)], Backend: config.BackendRelay}
		if portproxy {
			in.Backend = config.BackendPortproxy
		}
		cfg.Remaps = []config.Remap{{Port: 53, HostPort: 80}}
		l1 := &wslfwdv1.Listener{Protocol: wslfwdv1.Protocol(p1 % 4), Listen: listen1, Port: port1, Inode: inode1, Pid: pid1, V6Only: v6only1}
		l2 := &wslfwdv1.Listener{Protocol: wslfwdv1.Protocol(p2 % 4), Listen: listen2, Port: port2, Inode: inode1 + 1, V6Only: v6only2}
		a := agent("a", "Ubuntu", nat, l1, l2)
		a.Targets = append(a.Targets, ula6)
		b := agent("b", "Debian", nat, l1, l2)
		b.Targets = []netip.Addr{netip.MustParseAddr("172.28.240.54")}
		st := Static{Protocol: backend.TCP, Port: 8080, HostPort: 80, Distro: "Debian", Origin: wslfwdv1.ForwardOrigin_FORWARD_ORIGIN_STATIC}
		in.Agents, in.Statics = []Agent{a, b}, []Static{st}
		ds := Decide(in)
		wanted := map[backend.Key]backend.Entry{}
		for _, d := range ds {
			if !d.Want {
				if d.Reason == "" {
					t.Fatalf("%v decision without a reason: %+v", d.State, d)
				}
				continue
			}
			e := d.Entry
			if d.State != wslfwdv1.ForwardState_FORWARD_STATE_PENDING || !e.Listen.IsValid() || !e.Connect.IsValid() ||
				e.Listen.Port() == 0 || e.Connect.Port() == 0 || (e.Protocol != backend.TCP && e.Protocol != backend.UDP) {
				t.Fatalf("bad want %+v", d)
			}
			if portproxy && e.Listen.Addr().IsLoopback() {
				t.Fatalf("portproxy want on loopback: %+v", d)
			}
			// Once per key: a second want of the same forward is carried.
			if prev, ok := wanted[e.Key()]; ok {
				t.Fatalf("%v wanted twice: %v and %v", e.Key(), prev, e)
			}
			wanted[e.Key()] = e
		}
	})
}

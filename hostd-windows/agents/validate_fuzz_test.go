package agents

import (
	"net/netip"
	"testing"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
)

func FuzzValidateHello(f *testing.F) {
	f.Add("Ubuntu", int32(1), "0.1.0", "5.15.90.1-microsoft-standard-WSL2")
	f.Add("", int32(0), "", "")
	f.Add("Ubuntu\n", int32(2), "x", "y")
	f.Add("Debian-12.1_x", int32(99), "", "")
	f.Fuzz(func(t *testing.T, distro string, mode int32, ver, kernel string) {
		h := &wslfwdv1.AgentHello{Distro: distro, NetworkingMode: wslfwdv1.NetworkingMode(mode), AgentVersion: ver, KernelRelease: kernel}
		if err := ValidateHello(h); err == nil {
			if distro == "" || len([]rune(distro)) > maxDistroLen || mode <= 0 || mode > 7 {
				t.Fatalf("accepted hello %q mode %d", distro, mode)
			}
		}
	})
}

func FuzzValidateListener(f *testing.F) {
	f.Add(int32(1), int32(1), "0.0.0.0", uint32(80))
	f.Add(int32(2), int32(2), "::", uint32(53))
	f.Add(int32(1), int32(1), "::ffff:1.2.3.4", uint32(1))
	f.Add(int32(1), int32(2), "fe80::1%eth0", uint32(65535))
	f.Add(int32(0), int32(0), "", uint32(0))
	f.Fuzz(func(t *testing.T, proto, family int32, listen string, port uint32) {
		l := &wslfwdv1.Listener{Protocol: wslfwdv1.Protocol(proto), Family: wslfwdv1.AddressFamily(family), Listen: listen, Port: port}
		k, err := ValidateListener(l)
		if err != nil {
			return
		}
		if port < 1 || port > 65535 || uint32(k.Port) != port {
			t.Fatalf("accepted port %d as %d", port, k.Port)
		}
		if a, perr := netip.ParseAddr(listen); perr != nil || a.Zone() != "" {
			t.Fatalf("accepted address %q, which does not parse or names a zone", listen)
		}
	})
}

func FuzzValidateNetwork(f *testing.F) {
	f.Add("eth0", "172.28.240.53", uint32(20), "0.0.0.0/0", "172.28.240.1")
	f.Add("lo", "::1", uint32(128), "::/0", "")
	f.Add("x", "0.0.0.0", uint32(33), "bad", "bad")
	f.Fuzz(func(t *testing.T, name, addr string, prefix uint32, dest, gw string) {
		n := &wslfwdv1.NetworkState{
			Interfaces: []*wslfwdv1.Interface{{Name: name, Flags: []string{"up"}, Addresses: []*wslfwdv1.InterfaceAddress{{Address: addr, PrefixLength: prefix}}}},
			Routes:     []*wslfwdv1.Route{{Family: wslfwdv1.AddressFamily_ADDRESS_FAMILY_IPV4, Destination: dest, Gateway: gw}},
		}
		if ValidateNetwork(n) != nil {
			return
		}
		a, err := netip.ParseAddr(addr)
		if err != nil || a.IsUnspecified() || a.Is4In6() || int(prefix) > a.BitLen() || a.Zone() != "" {
			t.Fatalf("accepted %q/%d", addr, prefix)
		}
		if g, err := netip.ParseAddr(gw); gw != "" && (err != nil || g.Zone() != "") {
			t.Fatalf("accepted gateway %q", gw)
		}
	})
}

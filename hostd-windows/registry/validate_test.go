package registry

import (
	"net/netip"
	"slices"
	"testing"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
)

// A bridge that sorts before eth0 (docker0 with a lower index, say) must
// not become the address forwards point at: the default route's interface
// leads.
func TestValidateNetworkPutsDefaultRouteInterfaceFirst(t *testing.T) {
	iface := func(name string, index uint32, flags []string, addrs ...string) *wslfwdv1.Interface {
		ifc := &wslfwdv1.Interface{Name: name, Index: index, Flags: flags}
		for _, a := range addrs {
			ifc.Addresses = append(ifc.Addresses, &wslfwdv1.InterfaceAddress{Address: a, PrefixLength: 16})
		}
		return ifc
	}
	route := func(dev string, metric uint32) *wslfwdv1.Route {
		return &wslfwdv1.Route{Family: wslfwdv1.AddressFamily_ADDRESS_FAMILY_IPV4, Destination: "0.0.0.0/0",
			Gateway: "172.28.240.1", InterfaceName: dev, Metric: metric}
	}
	n := &wslfwdv1.NetworkState{
		Interfaces: []*wslfwdv1.Interface{
			iface("lo", 1, []string{"up", "loopback"}, "127.0.0.1", "::1"),
			iface("docker0", 2, []string{"up"}, "172.17.0.1"),
			iface("eth0", 3, []string{"up"}, "172.28.240.53", "fe80::1"),
			iface("vpn0", 4, []string{"up"}, "10.8.0.2"),
		},
		Routes: []*wslfwdv1.Route{route("vpn0", 200), route("eth0", 100)},
	}
	got, err := ValidateNetwork(n)
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Addr{
		netip.MustParseAddr("172.28.240.53"), netip.MustParseAddr("fe80::1"),
		netip.MustParseAddr("172.17.0.1"), netip.MustParseAddr("10.8.0.2"),
	}
	if !slices.Equal(got, want) {
		t.Fatalf("external = %v, want %v (eth0 first, loopback left out)", got, want)
	}

	n.Routes = nil
	got, err = ValidateNetwork(n)
	if err != nil {
		t.Fatal(err)
	}
	if want := []netip.Addr{want[2], want[0], want[1], want[3]}; !slices.Equal(got, want) {
		t.Fatalf("without a default route external = %v, want interface order %v", got, want)
	}
}

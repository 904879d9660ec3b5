package netstate

import (
	"fmt"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
)

func iface(index uint32, up bool, addrs int) *wslfwdv1.Interface {
	ifc := &wslfwdv1.Interface{Name: fmt.Sprintf("veth%d", index), Index: index}
	if up {
		ifc.Flags = []string{"up"}
	}
	for i := range addrs {
		ifc.Addresses = append(ifc.Addresses, &wslfwdv1.InterfaceAddress{Address: fmt.Sprintf("10.%d.%d.1", i/256, i%256), PrefixLength: 24})
	}
	return ifc
}

// A namespace with more interfaces than the daemon accepts (a veth per
// container) keeps, within the bounds, the interface of the default
// route and those up with an address, in their order.
func TestTrimKeepsTheInterfacesThatMatter(t *testing.T) {
	st := &wslfwdv1.NetworkState{Routes: []*wslfwdv1.Route{{InterfaceIndex: 900, Destination: "0.0.0.0/0"}}}
	for i := uint32(1); i <= 1000; i++ {
		st.Interfaces = append(st.Interfaces, iface(i, i%10 == 0, int(i%10)/9)) // every tenth up, without an address; those ending in 9 down, with one
	}
	st.Interfaces[499] = iface(500, true, 1)  // up, with an address
	st.Interfaces[599] = iface(600, false, 1) // down, with an address
	ifs, addrs, routes := Trim(st)
	if ifs != 1000-MaxInterfaces || addrs != 0 || routes != 0 {
		t.Errorf("Trim left out %d interfaces, %d addresses, %d routes; want %d, 0, 0", ifs, addrs, routes, 1000-MaxInterfaces)
	}
	var kept []uint32
	for _, ifc := range st.Interfaces {
		kept = append(kept, ifc.GetIndex())
	}
	if len(kept) != MaxInterfaces || !slices.IsSorted(kept) {
		t.Fatalf("kept %d interfaces, sorted %v; want %d in their order", len(kept), slices.IsSorted(kept), MaxInterfaces)
	}
	for _, must := range []uint32{900, 500, 1, 254} {
		if !slices.Contains(kept, must) {
			t.Errorf("interface %d left out", must)
		}
	}
	for _, out := range []uint32{600, 255, 1000} {
		if slices.Contains(kept, out) {
			t.Errorf("interface %d kept, ahead of one that matters more", out)
		}
	}
}

func TestTrimAddressesAndRoutes(t *testing.T) {
	st := &wslfwdv1.NetworkState{Interfaces: []*wslfwdv1.Interface{iface(1, true, MaxAddrsPerIface+5), iface(2, true, 3)}}
	for range MaxRoutes + 2 {
		st.Routes = append(st.Routes, &wslfwdv1.Route{InterfaceIndex: 1})
	}
	first := st.Interfaces[0].Addresses[0]
	if ifs, addrs, routes := Trim(st); ifs != 0 || addrs != 5 || routes != 2 {
		t.Errorf("Trim left out %d, %d, %d; want 0, 5, 2", ifs, addrs, routes)
	}
	if n := len(st.Interfaces[0].Addresses); n != MaxAddrsPerIface || st.Interfaces[0].Addresses[0] != first {
		t.Errorf("interface 1: %d addresses; want the first %d", n, MaxAddrsPerIface)
	}
	if len(st.Interfaces[1].Addresses) != 3 || len(st.Routes) != MaxRoutes {
		t.Errorf("interface 2: %d addresses, %d routes; want 3 and %d", len(st.Interfaces[1].Addresses), len(st.Routes), MaxRoutes)
	}
	within := &wslfwdv1.NetworkState{Interfaces: []*wslfwdv1.Interface{iface(1, true, 1)}}
	if a, b, c := Trim(within); a+b+c != 0 || len(within.Interfaces) != 1 {
		t.Errorf("a state within the bounds was trimmed")
	}
}

// Interfaces within the count but over the size bound (long names, many
// addresses each) are cut to the size, the routed one kept.
func TestTrimToSize(t *testing.T) {
	st := &wslfwdv1.NetworkState{Routes: []*wslfwdv1.Route{{InterfaceIndex: 200, Destination: "0.0.0.0/0"}}}
	for i := uint32(1); i <= 200; i++ {
		st.Interfaces = append(st.Interfaces, iface(i, true, 16))
	}
	if proto.Size(st) <= MaxBytes {
		t.Fatalf("the test state is only %d bytes", proto.Size(st))
	}
	ifs, _, _ := Trim(st)
	if size := proto.Size(st); size > MaxBytes || ifs == 0 || len(st.Interfaces) != 200-ifs {
		t.Errorf("after Trim: %d bytes, %d interfaces, %d left out; want at most %d bytes", size, len(st.Interfaces), ifs, MaxBytes)
	}
	if last := st.Interfaces[len(st.Interfaces)-1]; last.GetIndex() != 200 {
		t.Errorf("the routed interface was left out; last kept is %d", last.GetIndex())
	}
}

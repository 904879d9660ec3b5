//go:build linux

package netinv_test

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"

	"github.com/wslfwd/wslfwd/agent-linux/internal/nstest"
	"github.com/wslfwd/wslfwd/agent-linux/netinv"
	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/internal/netstate"
)

// lab builds the wsl side of the lab in ns: eth0 172.28.240.53/20 and
// 2001:db8:1::53/64, default routes via the .1 addresses of the subnets.
// The gateways need not answer: the test only reads the configuration.
func lab(t *testing.T, ns netns.NsHandle) (*netlink.Handle, netlink.Link) {
	t.Helper()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	mac, _ := net.ParseMAC("00:15:5d:8a:1b:2c")
	veth := &netlink.Veth{
		LinkAttrs: netlink.LinkAttrs{Name: "eth0", MTU: 1420, HardwareAddr: mac},
		PeerName:  "host0",
	}
	if err := h.LinkAdd(veth); err != nil {
		t.Fatalf("add veth: %v", err)
	}
	eth0, err := h.LinkByName("eth0")
	if err != nil {
		t.Fatal(err)
	}
	peer, err := h.LinkByName("host0")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range []netlink.Link{eth0, peer} {
		if err := h.LinkSetUp(l); err != nil {
			t.Fatal(err)
		}
	}
	// The kernel turns a veth's carrier on asynchronously (link watch);
	// wait for it so the oper state read back is settled.
	deadline := time.Now().Add(10 * time.Second)
	for {
		l, err := h.LinkByName("eth0")
		if err != nil {
			t.Fatal(err)
		}
		if l.Attrs().OperState == netlink.OperUp {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("eth0 oper state still %v", l.Attrs().OperState)
		}
		time.Sleep(10 * time.Millisecond)
	}
	addAddr(t, h, eth0, "172.28.240.53/20")
	addAddr(t, h, eth0, "2001:db8:1::53/64")
	addDefault(t, h, eth0, "172.28.240.1")
	addDefault(t, h, eth0, "2001:db8:1::1")
	return h, eth0
}

func addAddr(t *testing.T, h *netlink.Handle, l netlink.Link, cidr string) {
	t.Helper()
	a, err := netlink.ParseAddr(cidr)
	if err != nil {
		t.Fatal(err)
	}
	a.Flags = unix.IFA_F_NODAD
	if err := h.AddrAdd(l, a); err != nil {
		t.Fatalf("add %s: %v", cidr, err)
	}
}

func addDefault(t *testing.T, h *netlink.Handle, l netlink.Link, gw string) {
	t.Helper()
	ip := net.ParseIP(gw)
	_, dst, _ := net.ParseCIDR("0.0.0.0/0")
	if ip.To4() == nil {
		_, dst, _ = net.ParseCIDR("::/0")
	}
	if err := h.RouteAdd(&netlink.Route{LinkIndex: l.Attrs().Index, Dst: dst, Gw: ip}); err != nil {
		t.Fatalf("add default via %s: %v", gw, err)
	}
}

func findIf(st *wslfwdv1.NetworkState, name string) *wslfwdv1.Interface {
	for _, i := range st.GetInterfaces() {
		if i.GetName() == name {
			return i
		}
	}
	return nil
}

func addrs(i *wslfwdv1.Interface) []string {
	var out []string
	for _, a := range i.GetAddresses() {
		if netip.MustParseAddr(a.GetAddress()).IsLinkLocalUnicast() {
			continue // the kernel's own fe80:: address; its value depends on the MAC
		}
		out = append(out, a.GetAddress()+"/"+strconv.Itoa(int(a.GetPrefixLength())))
	}
	return out
}

// readState reads the network state of ns once.
func readState(t *testing.T, ns netns.NsHandle) *wslfwdv1.NetworkState {
	t.Helper()
	inv, err := netinv.OpenAt(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer inv.Close()
	st, err := inv.State()
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestStateReadsBackConfiguration(t *testing.T) {
	ns := nstest.New(t)
	_, eth0 := lab(t, ns)
	st := readState(t, ns)

	got := findIf(st, "eth0")
	if got == nil {
		t.Fatalf("eth0 missing from %v", st)
	}
	if got.GetIndex() != uint32(eth0.Attrs().Index) || got.GetMtu() != 1420 || got.GetHardwareAddress() != "00:15:5d:8a:1b:2c" {
		t.Errorf("eth0 = index %d mtu %d mac %q, want %d 1420 00:15:5d:8a:1b:2c",
			got.GetIndex(), got.GetMtu(), got.GetHardwareAddress(), eth0.Attrs().Index)
	}
	for _, f := range []string{"up", "broadcast", "multicast", "running"} {
		if !slices.Contains(got.GetFlags(), f) {
			t.Errorf("eth0 flags %v lack %q", got.GetFlags(), f)
		}
	}
	if got.GetOperState() != "up" {
		t.Errorf("eth0 oper state %q, want up", got.GetOperState())
	}
	if want := []string{"172.28.240.53/20", "2001:db8:1::53/64"}; !slices.Equal(addrs(got), want) {
		t.Errorf("eth0 addresses %v, want %v", addrs(got), want)
	}
	lo := findIf(st, "lo")
	if lo == nil || !slices.Contains(lo.GetFlags(), "loopback") || !slices.Equal(addrs(lo), []string{"127.0.0.1/8", "::1/128"}) {
		t.Errorf("lo = %v, want loopback with 127.0.0.1/8 and ::1/128", lo)
	}

	wantRoutes := map[string]string{"0.0.0.0/0": "172.28.240.1", "::/0": "2001:db8:1::1"}
	if len(st.GetRoutes()) != 2 {
		t.Fatalf("routes %v, want exactly the two default routes", st.GetRoutes())
	}
	for _, r := range st.GetRoutes() {
		if wantRoutes[r.GetDestination()] != r.GetGateway() || r.GetInterfaceName() != "eth0" || r.GetInterfaceIndex() != uint32(eth0.Attrs().Index) {
			t.Errorf("route %v, want %s via %s dev eth0", r, r.GetDestination(), wantRoutes[r.GetDestination()])
		}
	}
	if gw := netinv.Gateway4(st); gw != netip.MustParseAddr("172.28.240.1") {
		t.Errorf("Gateway4 = %v, want 172.28.240.1", gw)
	}
}

func TestWatchSeesAddressChange(t *testing.T) {
	ns := nstest.New(t)
	h, eth0 := lab(t, ns)
	inv, err := netinv.OpenAt(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer inv.Close()

	ctx, cancel := context.WithCancel(context.Background())
	woke := make(chan struct{}, 1)
	done := make(chan error, 1)
	go func() {
		done <- inv.Run(ctx, func() {
			select {
			case woke <- struct{}{}:
			default:
			}
		})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	// Subscriptions start asynchronously: keep changing the address until a
	// wake arrives and the new state shows it, within a deadline.
	old, _ := netlink.ParseAddr("172.28.240.53/20")
	if err := h.AddrDel(eth0, old); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(10 * time.Second)
	for n := 60; ; n++ {
		addAddr(t, h, eth0, "172.28.240."+strconv.Itoa(n)+"/20")
		select {
		case <-woke:
		case <-time.After(200 * time.Millisecond):
			continue
		case <-deadline:
			t.Fatal("no wake after address changes")
		}
		st, err := inv.State()
		if err != nil {
			t.Fatal(err)
		}
		if got := addrs(findIf(st, "eth0")); !slices.Contains(got, "172.28.240."+strconv.Itoa(n)+"/20") || slices.Contains(got, "172.28.240.53/20") {
			t.Fatalf("after the change eth0 has %v", got)
		}
		break
	}
	// The old default route went with the old address; a new one is seen.
	for len(woke) > 0 {
		<-woke
	}
	addDefault(t, h, eth0, "172.28.240.1")
	select {
	case <-woke:
	case <-time.After(10 * time.Second):
		t.Fatal("no wake after route add")
	}
	st, err := inv.State()
	if err != nil {
		t.Fatal(err)
	}
	if gw := netinv.Gateway4(st); gw != netip.MustParseAddr("172.28.240.1") {
		t.Errorf("gateway after change = %v", gw)
	}
}

// A namespace with more interfaces than the daemon accepts (a veth per
// container on a Docker host) reads as what the daemon accepts, the
// interface of the default route included: sending them all would have
// every message of every distro's agent refused.
func TestStateKeepsToTheDaemonsBounds(t *testing.T) {
	ns := nstest.New(t)
	h, _ := lab(t, ns)
	for i := range netstate.MaxInterfaces/2 + 22 { // a pair each
		veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "c" + strconv.Itoa(i)}, PeerName: "p" + strconv.Itoa(i)}
		if err := h.LinkAdd(veth); err != nil {
			t.Fatalf("add veth %d: %v", i, err)
		}
	}
	st := readState(t, ns)
	if n := len(st.GetInterfaces()); n != netstate.MaxInterfaces {
		t.Errorf("%d interfaces, want the daemon's bound %d", n, netstate.MaxInterfaces)
	}
	if findIf(st, "eth0") == nil {
		t.Error("eth0, the default route's interface, was left out")
	}
	if size := proto.Size(st); size > netstate.MaxBytes {
		t.Errorf("%d bytes, over the daemon's bound %d", size, netstate.MaxBytes)
	}
}

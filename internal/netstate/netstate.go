// Package netstate holds the bounds on the network state an agent
// reports (wslfwdv1.NetworkState), which the daemon enforces and the
// agent keeps to. Every distro of a WSL2 VM shares one network namespace,
// so its interfaces are not the distro's own to bound: root in any
// distro, or a user of Docker there (a veth per container), can create
// more than the daemon accepts. An agent that sent them all would have
// every message refused, and every distro of the VM would lose its
// forwards; so the agent sends what fits (Trim), the interfaces that
// matter first.
package netstate

import (
	"cmp"
	"slices"

	"google.golang.org/protobuf/proto"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
)

// The bounds, each past what a distro needs: the state is information
// (`wslfwd agents`, probes), never a forward's target.
const (
	MaxInterfaces    = 256
	MaxAddrsPerIface = 256
	MaxRoutes        = 1024
	// MaxBytes bounds the encoded state: the daemon answers ListAgents
	// with every agent's (64 by default) in one message, which a client
	// reads only up to 4 MiB. A distro needs a few hundred bytes; 256
	// veths of a container host, each with its link-local address, fit.
	MaxBytes = 32 << 10
)

// Trim cuts st down to the bounds in place and reports how many
// interfaces, addresses and routes it left out. It keeps, in this order,
// the interfaces a route goes through, those that are up with an address,
// and then the others, each group by index; and of each interface's
// addresses and of the routes, the first ones. The interfaces stay in
// their order.
func Trim(st *wslfwdv1.NetworkState) (interfaces, addrs, routes int) {
	if n := len(st.GetRoutes()); n > MaxRoutes {
		st.Routes, routes = st.Routes[:MaxRoutes], n-MaxRoutes
	}
	for _, ifc := range st.GetInterfaces() {
		if n := len(ifc.GetAddresses()); n > MaxAddrsPerIface {
			ifc.Addresses, addrs = ifc.Addresses[:MaxAddrsPerIface], addrs+n-MaxAddrsPerIface
		}
	}
	n := len(st.GetInterfaces())
	if n > MaxInterfaces || proto.Size(st) > MaxBytes {
		st.Interfaces = keepInterfaces(st)
		interfaces = n - len(st.Interfaces)
	}
	return interfaces, addrs, routes
}

// keepInterfaces returns the interfaces of st that matter most, as many
// as the bounds leave room for, in st's order.
func keepInterfaces(st *wslfwdv1.NetworkState) []*wslfwdv1.Interface {
	routed := map[uint32]bool{}
	for _, r := range st.GetRoutes() {
		routed[r.GetInterfaceIndex()] = true
	}
	rank := func(ifc *wslfwdv1.Interface) int {
		switch {
		case routed[ifc.GetIndex()]:
			return 0
		case slices.Contains(ifc.GetFlags(), "up") && len(ifc.GetAddresses()) > 0:
			return 1
		}
		return 2
	}
	pos := make(map[*wslfwdv1.Interface]int, len(st.Interfaces))
	for i, ifc := range st.Interfaces {
		pos[ifc] = i
	}
	byRank := slices.Clone(st.Interfaces)
	slices.SortStableFunc(byRank, func(a, b *wslfwdv1.Interface) int {
		return cmp.Or(cmp.Compare(rank(a), rank(b)), cmp.Compare(a.GetIndex(), b.GetIndex()))
	})
	// Each interface is a field of its own in the encoding, so the sizes
	// add up: the state without interfaces, plus each one's.
	size := proto.Size(&wslfwdv1.NetworkState{Routes: st.GetRoutes()})
	var kept []*wslfwdv1.Interface
	for _, ifc := range byRank {
		n := proto.Size(&wslfwdv1.NetworkState{Interfaces: []*wslfwdv1.Interface{ifc}})
		if len(kept) == MaxInterfaces || size+n > MaxBytes {
			break
		}
		kept = append(kept, ifc)
		size += n
	}
	slices.SortFunc(kept, func(a, b *wslfwdv1.Interface) int { return cmp.Compare(pos[a], pos[b]) })
	return kept
}

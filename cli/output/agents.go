package output

import (
	"cmp"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strconv"
	"time"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/internal/enumtext"
)

// Agents renders ListAgents as a table: one row per agent with its mode,
// version, the address its connection comes from, the address and
// gateway it reports, its listener count, how it learns of listeners and
// session state.
//
// Only FROM is the daemon's own knowledge (the connection's source, which
// NAT forwards go to); the rest is what the agent says, and root in any
// distro can make it say anything: so the reported columns say REPORTED.
func Agents(w io.Writer, r *wslfwdv1.ListAgentsResponse, now time.Time) {
	if len(r.GetAgents()) == 0 {
		fmt.Fprintln(w, "No agents. Start wslfwd-agent inside your WSL distro.")
	} else {
		tw := newTable(w)
		tw.row("DISTRO", "MODE", "VERSION", "FROM", "REPORTED ADDRESS", "REPORTED GATEWAY", "LISTENERS", "DETECTION", "STATE")
		for _, a := range r.GetAgents() {
			tw.row(
				Truncate(a.GetDistro(), maxDistro),
				Mode(a.GetNetworkingMode()),
				a.GetAgentVersion(),
				From(a.GetPeerAddress()),
				Addresses(a.GetNetwork()),
				Gateway4(a.GetNetwork()),
				Listeners(a),
				Detection(a.GetDetection()),
				AgentState(a, now),
			)
		}
		tw.flush()
	}
	refusals(w, r.GetRefusals(), now)
}

// From is the address an agent's connection comes from, as the daemon saw
// it: the one address of the table an agent cannot choose.
func From(peer string) string {
	if ap, err := netip.ParseAddrPort(peer); err == nil {
		return ap.Addr().Unmap().String()
	}
	return peer
}

// Listeners is the agent's listener count, with the listeners it says it
// left out, over the daemon's limit, as "4096 +12 unreported (claimed)":
// the daemon holds the 4096; the 12 are only the agent's word, and may be
// any number.
func Listeners(a *wslfwdv1.Agent) string {
	s := strconv.FormatUint(uint64(a.GetListenerCount()), 10)
	if n := a.GetUnreportedListeners(); n > 0 {
		s += fmt.Sprintf(" +%d unreported (claimed)", n)
	}
	return s
}

// refusals lists the agent sessions the daemon refused, so a distro that is
// not connected says why.
func refusals(w io.Writer, rs []*wslfwdv1.AgentRefusal, now time.Time) {
	if len(rs) == 0 {
		return
	}
	fmt.Fprintln(w, "\nRefused agent sessions, newest first:")
	tw := newTable(w)
	tw.row("DISTRO", "FROM", "TIMES", "LAST", "WHY")
	for _, r := range rs {
		distro := r.GetDistro()
		if distro == "" {
			distro = "?"
		}
		tw.row(Truncate(distro, maxDistro), r.GetPeerAddress(), strconv.FormatUint(uint64(r.GetCount()), 10),
			Duration(now.Sub(r.GetLast().AsTime()))+" ago", r.GetCode()+": "+r.GetReason())
	}
	tw.flush()
}

// Addresses prints the agent's own addresses: the first (IPv4 preferred,
// loopback and link-local left out) and "+N" for the others.
func Addresses(n *wslfwdv1.NetworkState) string {
	var addrs []netip.Addr
	for _, ifc := range n.GetInterfaces() {
		if slices.Contains(ifc.GetFlags(), "loopback") {
			continue
		}
		for _, ia := range ifc.GetAddresses() {
			a, err := netip.ParseAddr(ia.GetAddress())
			if err != nil || a.IsLoopback() || a.IsLinkLocalUnicast() {
				continue
			}
			addrs = append(addrs, a)
		}
	}
	if len(addrs) == 0 {
		return ""
	}
	// Stable: IPv4 before IPv6, otherwise as reported.
	slices.SortStableFunc(addrs, func(a, b netip.Addr) int {
		switch {
		case a.Is4() && !b.Is4():
			return -1
		case !a.Is4() && b.Is4():
			return 1
		}
		return 0
	})
	if len(addrs) == 1 {
		return addrs[0].String()
	}
	return fmt.Sprintf("%s +%d", addrs[0], len(addrs)-1)
}

// Gateway4 is the IPv4 default route's gateway with the lowest metric.
func Gateway4(n *wslfwdv1.NetworkState) string {
	best, metric := "", uint32(0)
	for _, r := range n.GetRoutes() {
		if r.GetFamily() != wslfwdv1.AddressFamily_ADDRESS_FAMILY_IPV4 || r.GetDestination() != "0.0.0.0/0" || r.GetGateway() == "" {
			continue
		}
		if best == "" || r.GetMetric() < metric {
			best, metric = r.GetGateway(), r.GetMetric()
		}
	}
	return best
}

// AgentState says whether the session is open and for how long, or when the
// agent was last heard from and how long its forwards are kept.
func AgentState(a *wslfwdv1.Agent, now time.Time) string {
	if a.GetConnected() {
		if a.GetConnectedAt() == nil {
			return "connected"
		}
		return "connected " + Duration(now.Sub(a.GetConnectedAt().AsTime()))
	}
	s := "gone"
	// Since the disconnect; a daemon older than disconnected_at gives
	// only the agent's last message, which an idle agent sent long before.
	if at := cmp.Or(a.GetDisconnectedAt(), a.GetLastSeen()); at != nil {
		s += " " + Duration(now.Sub(at.AsTime()))
	}
	if g := a.GetGraceUntil(); g != nil && g.AsTime().After(now) {
		s += ", grace " + Duration(g.AsTime().Sub(now))
	}
	return s
}

// Detection says how an agent learns of listeners: "events" when the eBPF
// trigger is live for both protocols, "scans" when for neither, else each
// protocol's own; "" (a "-" cell) for an agent too old to say.
func Detection(d *wslfwdv1.ListenerDetection) string {
	tcp, udp := enumtext.Detection(d.GetTcp()), enumtext.Detection(d.GetUdp())
	switch {
	case tcp == "" || udp == "":
		return ""
	case tcp == udp:
		return tcp
	}
	return "tcp " + tcp + ", udp " + udp
}

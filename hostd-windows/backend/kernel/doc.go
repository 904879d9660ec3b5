// Package kernel is the Linux backend whose forwards the kernel carries:
// each forward is one nftables DNAT rule in a table wslfwd owns
// (TableName, family inet), written over netlink, so no byte of a
// forwarded connection passes through the daemon. The relay terminates
// every connection twice and copies between the two; here conntrack
// rewrites the destination of the first packet and routes the rest.
//
// The table holds two base chains, at the prerouting hook (clients from
// other machines) and at the output hook (clients on this host), both
// nat chains at the dstnat priority, that jump to one regular chain,
// "forwards", holding one rule per forward:
//
//	meta nfproto ipv4 meta l4proto tcp ip daddr 10.2.3.1 tcp dport 8080 dnat ip to 172.28.240.53:8080
//
// A forward listening on every address matches "fib daddr type local"
// instead of one address, so traffic routed through the host to other
// machines is never taken. TCP and UDP are alike to conntrack, so both
// are rules; a UDP flow lives as long as conntrack's timeout for it
// (nf_conntrack_udp_timeout_stream), not the relay's idle timeout.
//
// What the kernel cannot do, and the backend refuses or documents:
//   - A forward cannot change the address family (portproxy's v6tov4):
//     NAT rewrites addresses, it does not translate packets. Such entries
//     fail with backend.ErrUnsupported.
//   - Clients on the host's own loopback (127.0.0.0/8, ::1) are not
//     served: a packet from 127.0.0.1 rewritten towards another machine is
//     a martian the kernel drops, and serving it needs route_localnet, which
//     also lets the LAN reach services bound to loopback (CVE-2020-8558).
//     The output chain lets such packets pass untouched, so the client
//     gets a refusal at once rather than a hang; entries listening on a
//     loopback address fail with backend.ErrUnsupported. Clients on the
//     host dialling one of its other addresses are served.
//   - Replies must come back through this host, for conntrack to undo the
//     rewrite. In WSL's NAT layout, and in the lab, the distro's default
//     route is the host, so the rules rewrite only the destination: the
//     target sees the client's real address. A distro dialling its own
//     forward through the host's address is therefore not served (the
//     reply goes straight back to itself); it can dial its own address.
//   - The kernel forwards only with forwarding on in the daemon's network
//     namespace (net.ipv4.ip_forward, net.ipv6.conf.all.forwarding). The
//     backend never turns it on itself, since that makes the host a
//     router for every interface; Verify reports each forward it stops.
//     Another table's filter chain at the forward hook that drops
//     (Docker's FORWARD policy, a firewall) drops these flows too: a
//     verdict in one table cannot override another's.
//
// Rules outlive the daemon, as portproxy's entries do, so the backend is
// durable: a restart adopts the rules its ledger owns and a forward
// carries connections throughout. Close leaves them; the next backend
// finds them. The table is created when the backend starts and never
// deleted by it; nothing outside the table is read or written. Its base
// chains are wslfwd's alone: each start remakes them to hold only the
// jumps, so a rule added there by hand goes. Rules in the forwards chain
// that the ledger does not own (added by hand) are listed like a user's
// portproxy entries and left alone; a key that several rules forward is
// obscured (ListObscured), so that a rule of wslfwd's there that is not
// the one in effect stays its own.
// Success is judged by reading the rules back from the kernel, never by
// the netlink call's answer.
package kernel

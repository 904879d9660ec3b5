// Package netlab builds the lab's simulated machines out of Linux network
// namespaces: a LAN client, the Windows host, and a WSL2 distro behind the
// host's NAT switch.
//
//	lan (10.2.3.52/24) ── winhost: lan0 10.2.3.1/24 | vEthernet 172.28.240.1/20 ── wsl: eth0 172.28.240.53/20
//
// The host does not route between its two sides (forwarding stays off, as on
// Windows without portproxy): a packet from lan reaches wsl only through a
// forward that terminates on the host. Each lab gets namespace names with a
// random per-run suffix (wf-<6 hex>-<role>), so runs never collide, and Close
// removes everything it made. Clean removes what a crashed run left behind.
//
// Code runs "inside" a namespace in three ways: a process started with
// NS.Command (through nsenter, which changes the network namespace and
// nothing else), a Go function run by NS.Do on a locked OS thread, and
// sockets opened by NS.Dial and NS.Listen, which keep their namespace after
// they are created. Linux only; it needs root.
package netlab

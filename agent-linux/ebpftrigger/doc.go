// Package ebpftrigger tells the agent about each socket that starts or
// stops listening, within microseconds, instead of it waiting for the next
// periodic scan. It implements the agent's trigger.EventSource.
//
// # What it watches
//
// Four small BPF programs, generated in Go with cilium/ebpf's asm package
// (no C compiler, no committed object files, nothing to rebuild), report
// into one BPF ring buffer:
//
//   - TCP: the raw tracepoint sock:inet_sock_set_state, for CLOSE->LISTEN
//     (listen()) and LISTEN->CLOSE (close or shutdown of a listener). The
//     raw form needs no tracefs mount (the classic form does, and tracefs
//     is not always mounted: it is not on this lab machine), and its
//     arguments (sk, oldstate, newstate) are the tracepoint's prototype.
//     The program reads from the socket what the agent lists: family,
//     address, port, IPV6_V6ONLY, uid and inode, plus the calling process
//     and its name. So a TCP listener costs the agent no sock_diag dump and
//     no /proc search at all: the event is the listener. Kernel structs are
//     not ABI, so New reads their offsets from kernel BTF
//     (/sys/kernel/btf/vmlinux, in WSL2's 5.15 and 6.x kernels); it also
//     lets the program drop non-TCP sockets and sockets of other network
//     namespaces (containers) in the kernel. Without BTF an event says only
//     that some TCP socket changed and the agent re-reads its TCP listeners.
//   - UDP bind: cgroup post_bind hooks (BPF_CGROUP_INET4_POST_BIND and
//     INET6), which run after every successful bind() and see the socket's
//     protocol, family and port through the stable struct bpf_sock UAPI.
//     The agent re-reads that one port.
//   - UDP close: the cgroup sock_release hook (BPF_CGROUP_INET_SOCK_RELEASE),
//     for unconnected UDP sockets only, so DNS lookups (connected sockets)
//     never wake the agent. The hook may not read the port, so the agent
//     re-reads the UDP sockets of that family.
//
// The UDP hooks attach to the root of the cgroup2 mount, which covers the
// whole distro. Where none is mounted in view (under `ip netns exec`,
// which remounts /sys, or in a container) New mounts the hierarchy on a
// thread of its own, in a mount namespace nobody else sees, and attaches
// there. The hooks see every process's sockets, whatever its network
// namespace, so the programs first compare the socket's netns cookie
// (bpf_get_netns_cookie) with that of the namespace watched and drop the
// others' binds and closes in the kernel: a container or sandbox binding
// UDP sockets does not wake the agent. The cookie is read with
// SO_NETNS_COOKIE (Linux 5.14); on older kernels the hooks do not filter.
//
// # Parts
//
// TCP (the tracepoint) and UDP (the cgroup hooks) load and attach on their
// own: each needs something the other does not. Parts says which are
// live; New fails only when neither is, and the agent scans periodically
// for the protocol of a part that is not, instead of for everything. Kprobes or fentry on udp_lib_get_port/udp_lib_unhash were
// the alternatives: kprobes are compiled out of some kernels (this lab's),
// fentry needs BTF and trampolines, and both hook function names that are
// not ABI. Syscall tracepoints (sys_exit_bind) need tracefs and say nothing
// about close. The cgroup hooks need only a cgroup2 mount, which WSL2
// always has (/sys/fs/cgroup/unified, or /sys/fs/cgroup with systemd).
//
// Not covered, healed by the agent's slow safety scan: a bound UDP socket
// that later connect()s, and UDP sockets of processes outside the cgroup2
// tree the hooks attach to (when the agent itself runs in a container
// with its own cgroup namespace).
//
// # Own process
//
// Events from the agent's own process are dropped inside the BPF programs
// (the tgid to ignore sits in a one-slot array map), so the agent's own
// sockets can never make it spin. WSL2 runs each distro in its own pid
// namespace, where os.Getpid() differs from the kernel's global tgid, so
// the programs ask bpf_get_ns_current_pid_tgid for the tgid in the agent's
// namespace. Cgroup socket programs may call that helper only on recent
// kernels (6.10 opened it to all program types; New probes for it); where
// they may not, they fall back to the global tgid, which is right when the
// agent is in the initial pid namespace, and otherwise the UDP hooks cannot
// filter (New logs this once; the agent binds no UDP sockets).
//
// # Early events, lost events and cost
//
// Some events come before the kernel has finished the change: listen()
// fires the tracepoint before it hashes the socket where sock_diag sees
// it, and sock_release runs before the socket is unhashed. An event that
// makes the agent re-read (UDP close, or TCP without BTF) is therefore
// handed over at once and again Options.Recheck (2 ms) later, so a
// re-read that ran too early is corrected. A TCP event that carries its
// socket needs no re-read; the agent replays recent ones over a full scan
// that might have run in that gap (see agent-linux/tracker).
//
// RunEvents waits for the ring buffer in Go's netpoller, so no thread sits
// in a blocking system call, and hands over what it read in one batch.
// When nothing happens, nothing runs in user space. The ring buffer holds
// 64 KiB, over a thousand events; when a storm fills it the programs count
// what they drop in a memory-mapped counter, and RunEvents reports a Lost
// event, on which the agent re-reads everything. In the kernel, every TCP
// state change on the machine runs the tracepoint program, which returns
// after two compares unless a listener is involved
// (BenchmarkListenProgramCost reports ns per run), and every bind() and
// inet socket close runs a cgroup program of similar size.
//
// # Requirements
//
// Linux 5.9 or later (BPF ring buffer 5.8, sock_release hook 5.9): WSL2's
// 5.15 and 6.x kernels qualify. Root, or CAP_BPF, CAP_PERFMON and
// CAP_NET_ADMIN (and CAP_SYS_ADMIN to mount cgroup2 privately). Reading
// kernel BTF makes New take a few hundred
// milliseconds. Nothing is pinned: the programs go away when RunEvents returns,
// Close is called, or the process dies. When any of this is missing for
// both parts, New returns an error that says why and the agent falls back
// to scanning.
//
// # Verifying it in WSL
//
// No bpftool needed. As root, in the distro:
//
//	go test -v -run . ./agent-linux/ebpftrigger/
//
// loads the programs, opens TCP and UDP sockets on loopback and checks that
// each is reported with this process's pid, that a TCP event carries what
// sock_diag lists, that the own-process and network namespace filters drop
// what they should, that an overfull ring is reported, and that everything
// is unloaded after RunEvents returns; a failure to load prints the
// reason. Then
//
//	go test -run XXX -bench . ./agent-linux/ebpftrigger/
//
// prints events/s absorbed, batches/s and events per batch under a bind
// storm, ns per tracepoint run, and the time from listen() to the event in
// user space. A running agent can be inspected through its
// file descriptors:
//
//	grep -H -E 'link_type|tp_name|attach_type' /proc/$(pidof wslfwd-agent)/fdinfo/*
//
// shows one raw_tracepoint link on inet_sock_set_state and three cgroup
// links with attach_type 12, 13 and 34 (post_bind4, post_bind6,
// sock_release); once the agent exits they are gone. With
// "echo 1 > /proc/sys/kernel/bpf_stats_enabled" the programs' fdinfo also
// counts their runs (run_cnt) and time (run_time_ns); set it back to 0
// afterwards, the accounting itself costs a little on every run.
package ebpftrigger

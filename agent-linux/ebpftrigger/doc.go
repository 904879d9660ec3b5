// Package ebpftrigger wakes the agent's listener scan within microseconds of
// a socket starting or stopping to listen, instead of waiting for the next
// periodic scan. It implements the agent's trigger.Trigger.
//
// # What it watches
//
// Four small BPF programs, generated in Go with cilium/ebpf's asm package
// (no C compiler, no committed object files, nothing to rebuild), report
// into one BPF ring buffer:
//
//   - TCP: the raw tracepoint sock:inet_sock_set_state, for CLOSE->LISTEN
//     (listen()) and LISTEN->CLOSE (close or shutdown of a listener), TCP
//     only (sk_protocol, at an offset read from kernel BTF at load time).
//     The raw form needs no tracefs mount (the classic form does, and
//     tracefs is not always mounted: it is not on this lab machine), and
//     its arguments (sk, oldstate, newstate) are the tracepoint's
//     prototype, so no record layout has to be read from a format file.
//     It sees every network namespace: a listener in a container's own
//     namespace costs the agent one needless rescan.
//   - UDP bind: cgroup post_bind hooks (BPF_CGROUP_INET4_POST_BIND and
//     INET6), which run after every successful bind() and see the socket's
//     protocol through the stable struct bpf_sock UAPI.
//   - UDP close: the cgroup sock_release hook (BPF_CGROUP_INET_SOCK_RELEASE),
//     for unconnected UDP sockets only, so DNS lookups (connected sockets)
//     never wake the agent.
//
// The UDP hooks attach to the root of the cgroup2 mount, which covers the
// whole distro. Kprobes or fentry on udp_lib_get_port/udp_lib_unhash were
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
// # Coalescing and cost
//
// The first event after a quiet spell wakes the agent at once. Later events
// are absorbed until the window (Options.Coalesce, 2 ms by default) ends,
// which wakes once more; so a burst costs one scan per window, and a lone
// event two: the kernel fires inet_sock_set_state just before it hashes or
// unhashes the socket, and the second scan corrects a first one that ran
// too early. One goroutine does it all: it waits for the ring buffer in
// Go's netpoller, with the window as the read deadline, so no thread sits
// in a blocking system call and an event costs one goroutine wakeup. When
// nothing happens, nothing runs in user space. The ring buffer holds one page of 16-byte
// records; when a storm fills it the kernel drops events, which is
// harmless: a full ring means unread events, and reading them wakes the
// agent after the dropped change happened. In the kernel, every TCP state change on the machine runs the
// tracepoint program, which returns after two compares unless a listener
// is involved (BenchmarkListenProgramCost reports ns per run), and every
// bind() and inet socket close runs a cgroup program of similar size.
//
// # Requirements
//
// Linux 5.9 or later (BPF ring buffer 5.8, sock_release hook 5.9): WSL2's
// 5.15 and 6.x kernels qualify. Root, or CAP_BPF, CAP_PERFMON and
// CAP_NET_ADMIN. New reads kernel BTF (/sys/kernel/btf/vmlinux) for the
// protocol check; without BTF it skips the check and SCTP or MPTCP
// listeners wake the agent too. Reading BTF makes New take a few hundred
// milliseconds. Nothing is pinned: the programs go away when Run returns,
// Close is called, or the process dies. When any of this is missing, New
// returns an error that says why and the agent falls back to scanning.
//
// # Verifying it in WSL
//
// No bpftool needed. As root, in the distro:
//
//	go test -v -run . ./agent-linux/ebpftrigger/
//
// loads the programs, opens TCP and UDP sockets on loopback and checks that
// each is reported with this process's pid, that the own-process filter
// drops them, and that everything is unloaded after Run returns; a failure
// to load prints the reason. Then
//
//	go test -run XXX -bench . ./agent-linux/ebpftrigger/
//
// prints events/s absorbed, wakes/s under a bind storm (about 1/window)
// and ns per tracepoint run. A running agent can be inspected through its
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

//go:build linux

package ebpftrigger

import (
	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
)

// Event kinds, as written by the BPF programs into the ring buffer.
const (
	kindTCPListen   uint32 = 1 // a TCP socket entered LISTEN
	kindTCPUnlisten uint32 = 2 // a TCP socket left LISTEN
	kindUDPBind     uint32 = 3 // bind() on a UDP socket succeeded
	kindUDPRelease  uint32 = 4 // an unconnected UDP socket was closed
)

// Kernel constants the programs compare against. They are ABI, not layout.
const (
	tcpListen   = 10 // TCP_LISTEN
	tcpClose    = 7  // TCP_CLOSE: the state of an unconnected UDP socket
	ipprotoTCP  = 6  // IPPROTO_TCP
	ipprotoUDP  = 17 // IPPROTO_UDP
	eventSize   = 8  // struct { u32 kind; u32 pid; }
	configSize  = 24 // struct { u32 tgid; u32 pad; u64 nsDev; u64 nsIno; }
	configTGID  = 0
	configDev   = 8
	configIno   = 16
	bpfSockProt = 12 // offsetof(struct bpf_sock, protocol), UAPI
	bpfSockStat = 72 // offsetof(struct bpf_sock, state), UAPI
)

// Stack slots used by every program (offsets from R10).
const (
	stackKey   = -4  // u32 key 0 for the config lookup
	stackNS    = -16 // struct bpf_pidns_info { u32 pid; u32 tgid; }
	stackEvent = -24 // the event handed to bpf_ringbuf_output
	stackProto = -32 // u16 sk_protocol copied out of the socket
)

// pidMode says how a program learns the tgid of the current task, which
// depends on what the program type may call on this kernel.
type pidMode int

const (
	// pidNamespace asks bpf_get_ns_current_pid_tgid for the tgid in the
	// agent's pid namespace. WSL2 runs each distro in its own pid namespace,
	// so the kernel's global tgid would never equal os.Getpid().
	pidNamespace pidMode = iota
	// pidGlobal uses bpf_get_current_pid_tgid; correct only when the agent
	// lives in the initial pid namespace.
	pidGlobal
	// pidNone cannot tell who the task is: no own-process filter.
	pidNone
)

// listenProgram handles the raw tracepoint sock:inet_sock_set_state, whose
// arguments are (const struct sock *sk, int oldstate, int newstate). It
// reports CLOSE->LISTEN (listen()) and LISTEN->CLOSE (close() or shutdown()
// of a listener), the only ways in and out of LISTEN. Other transitions
// from LISTEN are not the listener's: every accepted connection starts as a
// clone of its listener and fires LISTEN->SYN_RECV, in softirq context, so
// matching "oldstate == LISTEN" would wake the agent on every connection a
// busy server accepts.
//
// protoOff is the byte offset of sk_protocol in struct sock, from kernel
// BTF; negative skips the protocol check (SCTP and MPTCP listeners then
// wake the agent too, which costs one needless rescan and nothing else).
func listenProgram(events, config *ebpf.Map, protoOff int32) asm.Instructions {
	insns := asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1),
		asm.LoadMem(asm.R2, asm.R6, 8, asm.DWord),  // oldstate
		asm.LoadMem(asm.R3, asm.R6, 16, asm.DWord), // newstate
		asm.Mov.Imm(asm.R9, int32(kindTCPListen)),
		asm.JNE.Imm(asm.R3, tcpListen, "unlisten"),
		asm.JEq.Imm(asm.R2, tcpClose, "protocol"),
		asm.Ja.Label("out"),
		asm.Mov.Imm(asm.R9, int32(kindTCPUnlisten)).WithSymbol("unlisten"),
		asm.JNE.Imm(asm.R2, tcpListen, "out"),
		asm.JNE.Imm(asm.R3, tcpClose, "out"),
	}
	if protoOff < 0 {
		insns = append(insns, asm.Ja.Label("owner").WithSymbol("protocol"))
	} else {
		insns = append(insns,
			asm.Mov.Reg(asm.R1, asm.R10).WithSymbol("protocol"),
			asm.Add.Imm(asm.R1, stackProto),
			asm.Mov.Imm(asm.R2, 2),
			asm.LoadMem(asm.R3, asm.R6, 0, asm.DWord), // sk
			asm.Add.Imm(asm.R3, protoOff),
			asm.FnProbeReadKernel.Call(),
			// An unreadable socket is reported: a needless rescan is cheap,
			// a missed listener is not.
			asm.JNE.Imm(asm.R0, 0, "owner"),
			asm.LoadMem(asm.R1, asm.R10, stackProto, asm.Half),
			asm.JNE.Imm(asm.R1, ipprotoTCP, "out"),
		)
	}
	return append(insns, emit(events, config, pidNamespace, 0)...)
}

// udpBindProgram runs after every successful bind() in the cgroup
// (BPF_CGROUP_INET{4,6}_POST_BIND) and reports UDP ones. It must return 1:
// 0 would make the bind fail with EPERM.
func udpBindProgram(events, config *ebpf.Map, mode pidMode) asm.Instructions {
	return append(asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1),
		asm.LoadMem(asm.R1, asm.R6, bpfSockProt, asm.Word),
		asm.JNE.Imm(asm.R1, ipprotoUDP, "out"),
		asm.Mov.Imm(asm.R9, int32(kindUDPBind)),
	}, emit(events, config, mode, 1)...)
}

// udpReleaseProgram runs when an inet socket in the cgroup is released
// (BPF_CGROUP_INET_SOCK_RELEASE) and reports unconnected UDP sockets, the
// ones the agent lists. Connected UDP sockets (DNS lookups) are skipped. It
// returns 1 like every cgroup socket program.
func udpReleaseProgram(events, config *ebpf.Map, mode pidMode) asm.Instructions {
	return append(asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1),
		asm.LoadMem(asm.R1, asm.R6, bpfSockProt, asm.Word),
		asm.JNE.Imm(asm.R1, ipprotoUDP, "out"),
		asm.LoadMem(asm.R1, asm.R6, bpfSockStat, asm.Word),
		asm.JNE.Imm(asm.R1, tcpClose, "out"),
		asm.Mov.Imm(asm.R9, int32(kindUDPRelease)),
	}, emit(events, config, mode, 1)...)
}

// emit is the shared tail of every program. It starts at label "owner" with
// the event kind in R9, drops the event when the current task belongs to the
// ignored process, else writes {kind, pid} to the ring buffer. It ends at
// label "out", which returns ret.
//
// The pid sent is the tgid as the agent sees it, or 0 for a task in another
// pid namespace (pidNamespace mode) or when unknown (pidNone).
func emit(events, config *ebpf.Map, mode pidMode, ret int32) asm.Instructions {
	insns := asm.Instructions{
		asm.StoreImm(asm.R10, stackKey, 0, asm.Word).WithSymbol("owner"),
		asm.Mov.Reg(asm.R2, asm.R10),
		asm.Add.Imm(asm.R2, stackKey),
		asm.LoadMapPtr(asm.R1, config.FD()),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "out"),
		asm.Mov.Reg(asm.R8, asm.R0),
		asm.Mov.Imm(asm.R7, 0),
	}
	switch mode {
	case pidNamespace:
		insns = append(insns,
			asm.LoadMem(asm.R1, asm.R8, configDev, asm.DWord),
			asm.LoadMem(asm.R2, asm.R8, configIno, asm.DWord),
			asm.Mov.Reg(asm.R3, asm.R10),
			asm.Add.Imm(asm.R3, stackNS),
			asm.Mov.Imm(asm.R4, 8),
			asm.FnGetNsCurrentPidTgid.Call(),
			// Nonzero: the task is in another pid namespace, so it is not
			// the agent.
			asm.JNE.Imm(asm.R0, 0, "emit"),
			asm.LoadMem(asm.R7, asm.R10, stackNS+4, asm.Word),
		)
	case pidGlobal:
		insns = append(insns,
			asm.FnGetCurrentPidTgid.Call(),
			asm.Mov.Reg(asm.R7, asm.R0),
			asm.RSh.Imm(asm.R7, 32),
		)
	}
	if mode != pidNone {
		insns = append(insns,
			asm.LoadMem(asm.R1, asm.R8, configTGID, asm.Word),
			asm.JEq.Reg(asm.R7, asm.R1, "out"),
		)
	}
	return append(insns,
		asm.StoreMem(asm.R10, stackEvent, asm.R9, asm.Word).WithSymbol("emit"),
		asm.StoreMem(asm.R10, stackEvent+4, asm.R7, asm.Word),
		asm.LoadMapPtr(asm.R1, events.FD()),
		asm.Mov.Reg(asm.R2, asm.R10),
		asm.Add.Imm(asm.R2, stackEvent),
		asm.Mov.Imm(asm.R3, eventSize),
		asm.Mov.Imm(asm.R4, 0), // adaptive wakeup: notify only an idle reader
		asm.FnRingbufOutput.Call(),
		asm.Mov.Imm(asm.R0, ret).WithSymbol("out"),
		asm.Return(),
	)
}

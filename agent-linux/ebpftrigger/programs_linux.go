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
	afInet6     = 10 // AF_INET6
	bpfSockFam  = 4  // offsetof(struct bpf_sock, family), UAPI
	bpfSockProt = 12 // offsetof(struct bpf_sock, protocol), UAPI
	bpfSockPort = 44 // offsetof(struct bpf_sock, src_port), UAPI, host order
	bpfSockStat = 72 // offsetof(struct bpf_sock, state), UAPI
)

// The ring buffer record, struct event:
//
//	u32 kind; u32 pid; u64 inode; u32 uid; u16 family; u16 port;
//	u8 addr[16]; u8 v6only; u8 pad[7]; char comm[16];
//
// Fields a program cannot know stay zero.
const (
	eventSize   = 64
	eventPID    = 4
	eventInode  = 8
	eventUID    = 16
	eventFamily = 20
	eventPort   = 22
	eventAddr   = 24
	eventV6Only = 40
	eventComm   = 48
)

// The config map's one value, struct config:
//
//	u32 tgid; u32 netns; u64 pidns_dev; u64 pidns_ino; u64 lost;
const (
	configSize  = 32
	configTGID  = 0  // the process whose events are dropped
	configNetNS = 4  // inode of the network namespace watched
	configDev   = 8  // the agent's pid namespace
	configIno   = 16 //
	configLost  = 24 // events the ring buffer had no room for
)

// Stack slots used by the programs (offsets from R10).
const (
	stackKey   = -4  // u32 key 0 for the config lookup
	stackNS    = -16 // struct bpf_pidns_info { u32 pid; u32 tgid; }
	stackTmp   = -24 // 8 bytes for values read on the way
	stackEvent = -88 // the event handed to bpf_ringbuf_output
)

// Registers that live across helper calls.
const (
	regCtx    = asm.R6 // the program's context
	regSock   = asm.R7 // the listen program's struct sock *, until emit
	regConfig = asm.R8 // the config map value
	regKind   = asm.R9 // the event kind
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
// With a layout (from kernel BTF) it reports only TCP sockets of the
// watched network namespace, and each event carries the socket's family,
// address, port, IPV6_V6ONLY, uid and inode: everything the agent lists,
// so it needs no sock_diag dump. Fields it cannot read stay zero, which
// makes the agent re-read instead. Without a layout the event says only
// that some socket changed.
func listenProgram(events, config *ebpf.Map, l *sockLayout) asm.Instructions {
	insns := asm.Instructions{
		asm.Mov.Reg(regCtx, asm.R1),
		asm.LoadMem(asm.R2, regCtx, 8, asm.DWord),  // oldstate
		asm.LoadMem(asm.R3, regCtx, 16, asm.DWord), // newstate
		asm.Mov.Imm(regKind, int32(kindTCPListen)),
		asm.JNE.Imm(asm.R3, tcpListen, "unlisten"),
		asm.JEq.Imm(asm.R2, tcpClose, "start"),
		asm.Ja.Label("out"),
		asm.Mov.Imm(regKind, int32(kindTCPUnlisten)).WithSymbol("unlisten"),
		asm.JNE.Imm(asm.R2, tcpListen, "out"),
		asm.JNE.Imm(asm.R3, tcpClose, "out"),
		asm.LoadMem(regSock, regCtx, 0, asm.DWord).WithSymbol("start"),
	}
	insns = append(insns, start(config)...)
	if l != nil {
		insns = append(insns, sockFields(l)...)
	}
	return append(insns, emit(events, pidNamespace, 0)...)
}

// sockFields reads the socket's fields into the event, after dropping
// sockets that are not TCP or not in the watched network namespace. A
// socket whose protocol or namespace cannot be read is reported: a
// needless re-read is cheap, a missed listener is not.
func sockFields(l *sockLayout) asm.Instructions {
	var insns asm.Instructions
	add := func(more ...asm.Instruction) { insns = append(insns, more...) }
	add(readKernel(stackTmp, 2, regSock, l.protocol)...)
	add(
		asm.JNE.Imm(asm.R0, 0, "netns"),
		asm.LoadMem(asm.R1, asm.R10, stackTmp, asm.Half),
		asm.JNE.Imm(asm.R1, ipprotoTCP, "out"),
	)
	add(label("netns", readThrough(stackTmp, 4, regSock, l.net, l.netInum, "fields"))...)
	add(
		asm.JNE.Imm(asm.R0, 0, "fields"),
		asm.LoadMem(asm.R1, asm.R10, stackTmp, asm.Word),
		asm.LoadMem(asm.R2, regConfig, configNetNS, asm.Word),
		asm.JNE.Reg(asm.R1, asm.R2, "out"),
	)
	add(label("fields", readKernel(stackEvent+eventFamily, 2, regSock, l.family))...)
	add(readKernel(stackEvent+eventPort, 2, regSock, l.port)...)
	add(readKernel(stackEvent+eventUID, 4, regSock, l.uid)...)
	add(
		asm.LoadMem(asm.R1, asm.R10, stackEvent+eventFamily, asm.Half),
		asm.JEq.Imm(asm.R1, afInet6, "v6"),
	)
	add(readKernel(stackEvent+eventAddr, 4, regSock, l.addr4)...)
	add(asm.Ja.Label("inode"))
	add(label("v6", readKernel(stackEvent+eventAddr, 16, regSock, l.addr6))...)
	add(readKernel(stackTmp, 1, regSock, l.v6onlyByte)...)
	add(
		asm.LoadMem(asm.R1, asm.R10, stackTmp, asm.Byte),
		asm.RSh.Imm(asm.R1, l.v6onlyBit),
		asm.And.Imm(asm.R1, 1),
		asm.StoreMem(asm.R10, stackEvent+eventV6Only, asm.R1, asm.Byte),
	)
	add(label("inode", readThrough(stackEvent+eventInode, 8, regSock, l.socket, l.inode, "comm"))...)
	// The process name: the current task called listen() or close(), and
	// its thread group leader's comm is what /proc/<pid>/comm shows, so the
	// agent need not read that file.
	add(asm.FnGetCurrentTask.Call().WithSymbol("comm"))
	add(readThrough(stackEvent+eventComm, 16, asm.R0, l.leader, l.comm, "owner")...)
	return insns
}

// readThrough reads the pointer at base+ptrOff, then copies size bytes at
// that pointer plus off to the stack at dst. When the pointer cannot be
// read or is NULL it jumps to skip; otherwise R0 is the second read's
// result.
func readThrough(dst int16, size int32, base asm.Register, ptrOff, off int32, skip string) asm.Instructions {
	insns := readKernel(stackTmp, 8, base, ptrOff)
	insns = append(insns,
		asm.JNE.Imm(asm.R0, 0, skip),
		asm.LoadMem(asm.R3, asm.R10, stackTmp, asm.DWord),
		asm.JEq.Imm(asm.R3, 0, skip),
	)
	return append(insns, readKernel(dst, size, asm.R3, off)...)
}

// label names the first of insns.
func label(name string, insns asm.Instructions) asm.Instructions {
	insns[0] = insns[0].WithSymbol(name)
	return insns
}

// readKernel copies size bytes at base+off in kernel memory to the stack
// at dst; R0 is 0 on success. The helper zeroes dst when the read fails.
func readKernel(dst int16, size int32, base asm.Register, off int32) asm.Instructions {
	return asm.Instructions{
		asm.Mov.Reg(asm.R1, asm.R10),
		asm.Add.Imm(asm.R1, int32(dst)),
		asm.Mov.Imm(asm.R2, size),
		asm.Mov.Reg(asm.R3, base),
		asm.Add.Imm(asm.R3, off),
		asm.FnProbeReadKernel.Call(),
	}
}

// udpFilter is what the UDP programs drop in the kernel besides the
// protocols the agent does not list.
type udpFilter struct {
	// mode is how they tell the agent's own process (see emit).
	mode pidMode
	// cookie, if not 0, is the netns cookie of the network namespace
	// watched: sockets of other namespaces (containers, the lab's, a
	// browser's sandbox) are dropped before anything else is done, so
	// their binds never wake the agent. The cgroup hooks see every
	// process's sockets whatever its namespace; idle, those of others
	// were a quarter of the agent's CPU in the lab.
	cookie uint64
}

// netns drops sockets outside the watched network namespace, when f knows
// it. It runs with the context in regCtx and clobbers R0 to R5.
func (f udpFilter) netns() asm.Instructions {
	if f.cookie == 0 {
		return nil
	}
	return asm.Instructions{
		asm.Mov.Reg(asm.R1, regCtx),
		asm.FnGetNetnsCookie.Call(),
		asm.LoadImm(asm.R1, int64(f.cookie), asm.DWord),
		asm.JNE.Reg(asm.R0, asm.R1, "out"),
	}
}

// udpBindProgram runs after every successful bind() in the cgroup
// (BPF_CGROUP_INET{4,6}_POST_BIND), after the kernel has hashed the
// socket, and reports UDP ones with their family and port. It must return
// 1: 0 would make the bind fail with EPERM.
func udpBindProgram(events, config *ebpf.Map, f udpFilter) asm.Instructions {
	insns := asm.Instructions{
		asm.Mov.Reg(regCtx, asm.R1),
		asm.LoadMem(asm.R1, regCtx, bpfSockProt, asm.Word),
		asm.JNE.Imm(asm.R1, ipprotoUDP, "out"),
	}
	insns = append(insns, f.netns()...)
	insns = append(insns, asm.Mov.Imm(regKind, int32(kindUDPBind)))
	insns = append(insns, start(config)...)
	insns = append(insns,
		asm.LoadMem(asm.R1, regCtx, bpfSockFam, asm.Word),
		asm.StoreMem(asm.R10, stackEvent+eventFamily, asm.R1, asm.Half),
		asm.LoadMem(asm.R1, regCtx, bpfSockPort, asm.Word),
		asm.StoreMem(asm.R10, stackEvent+eventPort, asm.R1, asm.Half),
	)
	return append(insns, emit(events, f.mode, 1)...)
}

// udpReleaseProgram runs when an inet socket in the cgroup is released
// (BPF_CGROUP_INET_SOCK_RELEASE), before the kernel unhashes it, and
// reports unconnected UDP sockets, the ones the agent lists, with their
// family (the hook may not read the port). Connected UDP sockets (DNS
// lookups) are skipped. It returns 1 like every cgroup socket program.
func udpReleaseProgram(events, config *ebpf.Map, f udpFilter) asm.Instructions {
	insns := asm.Instructions{
		asm.Mov.Reg(regCtx, asm.R1),
		asm.LoadMem(asm.R1, regCtx, bpfSockProt, asm.Word),
		asm.JNE.Imm(asm.R1, ipprotoUDP, "out"),
		asm.LoadMem(asm.R1, regCtx, bpfSockStat, asm.Word),
		asm.JNE.Imm(asm.R1, tcpClose, "out"),
	}
	insns = append(insns, f.netns()...)
	insns = append(insns, asm.Mov.Imm(regKind, int32(kindUDPRelease)))
	insns = append(insns, start(config)...)
	insns = append(insns,
		asm.LoadMem(asm.R1, regCtx, bpfSockFam, asm.Word),
		asm.StoreMem(asm.R10, stackEvent+eventFamily, asm.R1, asm.Half),
	)
	return append(insns, emit(events, f.mode, 1)...)
}

// start zeroes the event and the scratch slot and looks up the config
// value into regConfig; without one the program returns.
func start(config *ebpf.Map) asm.Instructions {
	insns := asm.Instructions{asm.Mov.Imm(asm.R1, 0)}
	for off := int16(stackEvent); off < stackEvent+eventSize; off += 8 {
		insns = append(insns, asm.StoreMem(asm.R10, off, asm.R1, asm.DWord))
	}
	return append(insns,
		asm.StoreMem(asm.R10, stackTmp, asm.R1, asm.DWord),
		asm.StoreImm(asm.R10, stackKey, 0, asm.Word),
		asm.Mov.Reg(asm.R2, asm.R10),
		asm.Add.Imm(asm.R2, stackKey),
		asm.LoadMapPtr(asm.R1, config.FD()),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "out"),
		asm.Mov.Reg(regConfig, asm.R0),
	)
}

// emit is the shared tail of every program. It starts at label "owner"
// with the event kind in regKind and the config in regConfig, drops the
// event when the current task belongs to the ignored process, else writes
// the event to the ring buffer, counting it as lost when there is no
// room. It ends at label "out", which returns ret.
//
// The pid sent is the tgid as the agent sees it, or 0 for a task in another
// pid namespace (pidNamespace mode) or when unknown (pidNone).
func emit(events *ebpf.Map, mode pidMode, ret int32) asm.Instructions {
	insns := asm.Instructions{
		asm.Mov.Imm(asm.R7, 0).WithSymbol("owner"),
	}
	switch mode {
	case pidNamespace:
		insns = append(insns,
			asm.LoadMem(asm.R1, regConfig, configDev, asm.DWord),
			asm.LoadMem(asm.R2, regConfig, configIno, asm.DWord),
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
			asm.LoadMem(asm.R1, regConfig, configTGID, asm.Word),
			asm.JEq.Reg(asm.R7, asm.R1, "out"),
		)
	}
	return append(insns,
		asm.StoreMem(asm.R10, stackEvent, regKind, asm.Word).WithSymbol("emit"),
		asm.StoreMem(asm.R10, stackEvent+eventPID, asm.R7, asm.Word),
		asm.LoadMapPtr(asm.R1, events.FD()),
		asm.Mov.Reg(asm.R2, asm.R10),
		asm.Add.Imm(asm.R2, stackEvent),
		asm.Mov.Imm(asm.R3, eventSize),
		asm.Mov.Imm(asm.R4, 0), // adaptive wakeup: notify only an idle reader
		asm.FnRingbufOutput.Call(),
		asm.JEq.Imm(asm.R0, 0, "out"),
		asm.Mov.Reg(asm.R1, regConfig),
		asm.Add.Imm(asm.R1, configLost),
		asm.Mov.Imm(asm.R2, 1),
		asm.StoreXAdd(asm.R1, asm.R2, asm.DWord),
		asm.Mov.Imm(asm.R0, ret).WithSymbol("out"),
		asm.Return(),
	)
}

//go:build linux

package ebpftrigger

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/features"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"
	"github.com/cilium/ebpf/rlimit"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// New loads the programs, attaches them and opens the ring buffer. The TCP
// and UDP parts load on their own (see Parts): New succeeds when at least
// one is live. Its error says why neither can be used here (privilege,
// kernel version); the caller logs it once and falls back to scanning.
func New(opts Options) (_ *Trigger, err error) {
	t := &Trigger{window: opts.Recheck, log: opts.Logger}
	if t.window <= 0 {
		t.window = DefaultRecheck
	}
	if t.log == nil {
		t.log = slog.Default()
	}
	defer func() {
		if err != nil {
			t.Close()
			err = fmt.Errorf("ebpf trigger: %w", explain(err))
		}
	}()

	// Before Linux 5.11 BPF memory counts against RLIMIT_MEMLOCK, whose
	// default (64 KiB) is too small; later kernels use memcg and this is a
	// no-op.
	if err := rlimit.RemoveMemlock(); err != nil {
		return nil, fmt.Errorf("remove memlock rlimit: %w", err)
	}
	if err := t.identify(opts.NetNS); err != nil {
		return nil, err
	}
	if err := t.makeMaps(); err != nil {
		return nil, err
	}
	ignore := opts.IgnorePID
	if ignore == 0 {
		ignore = uint32(os.Getpid())
	}
	if err := t.ignore(ignore); err != nil {
		return nil, err
	}
	t.parts.TCP = t.attachPart(t.attachTCP)
	t.parts.UDP = t.attachPart(func() error { return t.attachUDP(opts.Cgroup) })
	if t.parts.TCP != nil && t.parts.UDP != nil {
		return nil, errors.Join(t.parts.TCP, t.parts.UDP)
	}
	return t, t.openRing()
}

// Parts says which parts of the trigger are live.
func (t *Trigger) Parts() Parts { return t.parts }

// identify records the agent's pid namespace, and the inode and cookie of
// the network namespace watched.
func (t *Trigger) identify(ns netns.NsHandle) error {
	var pidns unix.Stat_t
	if err := unix.Stat("/proc/self/ns/pid", &pidns); err != nil {
		return fmt.Errorf("identify pid namespace: %w", err)
	}
	// The kernel compares the namespace's device in its internal encoding
	// (MKDEV: major<<20 | minor), not stat's.
	t.nsDev = uint64(unix.Major(pidns.Dev))<<20 | uint64(unix.Minor(pidns.Dev))
	t.nsIno = pidns.Ino
	var err error
	if t.netns, err = netnsInode(ns); err != nil {
		return err
	}
	if t.cookie, err = netnsCookie(ns); err != nil {
		// Before Linux 5.14 (SO_NETNS_COOKIE) the UDP hooks cannot be told
		// which namespace is the agent's: they report binds from every one.
		t.log.Info("ebpf trigger: cannot identify the network namespace to the UDP hooks; binds in other namespaces wake the agent too", "err", err)
	}
	return nil
}

// makeMaps creates the ring buffer and the config map.
func (t *Trigger) makeMaps() error {
	var err error
	t.events, err = ebpf.NewMap(&ebpf.MapSpec{
		Name:       "wslfwd_events",
		Type:       ebpf.RingBuf,
		MaxEntries: ringSize,
	})
	if err != nil {
		return fmt.Errorf("create ring buffer (needs Linux 5.8): %w", err)
	}
	t.config, err = ebpf.NewMap(&ebpf.MapSpec{
		Name:       "wslfwd_config",
		Type:       ebpf.Array,
		KeySize:    4,
		ValueSize:  configSize,
		MaxEntries: 1,
		// Mapped into memory, so reading the lost count after every batch
		// costs no system call.
		Flags: unix.BPF_F_MMAPABLE,
	})
	if err != nil {
		return fmt.Errorf("create config map: %w", err)
	}
	if t.configMem, err = t.config.Memory(); err != nil {
		return fmt.Errorf("map config map: %w", err)
	}
	return nil
}

// attachPart runs attach and, when it fails, detaches and unloads what it
// had attached, so one part failing half way leaves the others whole.
func (t *Trigger) attachPart(attach func() error) error {
	progs, links := len(t.progs), len(t.links)
	err := attach()
	if err == nil {
		return nil
	}
	for _, l := range t.links[links:] {
		l.Close()
	}
	for _, p := range t.progs[progs:] {
		p.Close()
	}
	t.links, t.progs = t.links[:links], t.progs[:progs]
	return explain(err)
}

// attachTCP loads the listen program and attaches it to the raw
// tracepoint.
func (t *Trigger) attachTCP() error {
	layout, err := kernelLayout()
	if err != nil {
		t.log.Info("ebpf trigger: socket layout unknown, so every TCP listener change makes the agent re-read all TCP listeners", "err", err)
	}
	return t.load("wslfwd_listen", ebpf.RawTracepoint, ebpf.AttachNone, listenProgram(t.events, t.config, layout),
		func(p *ebpf.Program) (link.Link, error) {
			return link.AttachRawTracepoint(link.RawTracepointOptions{Name: "inet_sock_set_state", Program: p})
		})
}

// attachUDP loads the UDP programs and attaches them to cgroup, or to the
// root of the cgroup2 hierarchy when cgroup is empty.
func (t *Trigger) attachUDP(cgroup string) error {
	if cgroup == "" {
		dir, release, err := cgroup2Root()
		if err != nil {
			return err
		}
		defer release()
		cgroup = dir
	}
	mode := cgroupPidMode(t.nsIno == initPidNSInode)
	if mode == pidNone {
		t.log.Info("ebpf trigger: this kernel cannot tell cgroup socket programs which process runs them outside the initial pid namespace; UDP binds by the agent itself would wake it (the agent binds none)")
	}
	f := udpFilter{mode: mode, cookie: t.cookie}
	for _, p := range []struct {
		name  string
		at    ebpf.AttachType
		insns asm.Instructions
	}{
		{"wslfwd_bind4", ebpf.AttachCGroupInet4PostBind, udpBindProgram(t.events, t.config, f)},
		{"wslfwd_bind6", ebpf.AttachCGroupInet6PostBind, udpBindProgram(t.events, t.config, f)},
		{"wslfwd_release", ebpf.AttachCgroupInetSockRelease, udpReleaseProgram(t.events, t.config, f)},
	} {
		err := t.load(p.name, ebpf.CGroupSock, p.at, p.insns, func(prog *ebpf.Program) (link.Link, error) {
			return link.AttachCgroup(link.CgroupOptions{Path: cgroup, Attach: p.at, Program: prog})
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// load loads one program and attaches it, recording both in t for Close.
func (t *Trigger) load(name string, typ ebpf.ProgramType, at ebpf.AttachType, insns asm.Instructions,
	attach func(*ebpf.Program) (link.Link, error)) error {
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:         name,
		Type:         typ,
		AttachType:   at,
		Instructions: insns,
		// The helpers used (ring buffer, probe read, pid namespace) are
		// GPL-only: the kernel wants a GPL-compatible license.
		License: "Dual MIT/GPL",
	})
	if err != nil {
		return fmt.Errorf("load %s: %w", name, err)
	}
	t.progs = append(t.progs, prog)
	l, err := attach(prog)
	if err != nil {
		return fmt.Errorf("attach %s: %w", name, err)
	}
	t.links = append(t.links, l)
	return nil
}

// openRing opens the ring buffer's reader and the duplicate of its fd
// that read waits on in Go's netpoller.
func (t *Trigger) openRing() error {
	var err error
	if t.reader, err = ringbuf.NewReader(t.events); err != nil {
		return fmt.Errorf("open ring buffer: %w", err)
	}
	// The duplicate shares the ring's wait queue: it turns readable when
	// the kernel notifies the consumer.
	fd, err := unix.FcntlInt(uintptr(t.events.FD()), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("dup ring buffer: %w", err)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return fmt.Errorf("ring buffer: %w", err)
	}
	t.poll = os.NewFile(uintptr(fd), "ringbuf")
	if t.pollRC, err = t.poll.SyscallConn(); err != nil {
		return fmt.Errorf("ring buffer: %w", err)
	}
	return nil
}

// netnsInode returns the inode number of the network namespace ns, or of
// the calling thread's when ns is 0.
func netnsInode(ns netns.NsHandle) (uint32, error) {
	var st unix.Stat_t
	var err error
	if ns == 0 {
		err = unix.Stat("/proc/thread-self/ns/net", &st)
	} else {
		err = unix.Fstat(int(ns), &st)
	}
	if err != nil {
		return 0, fmt.Errorf("identify network namespace: %w", err)
	}
	return uint32(st.Ino), nil
}

// netnsCookie returns the kernel's cookie for the network namespace ns (the
// calling thread's when ns is 0), what bpf_get_netns_cookie returns for a
// socket there. The kernel tells it only through a socket in the namespace
// (SO_NETNS_COOKIE, Linux 5.14), so one is opened there: on a thread of its
// own, which is dropped afterwards rather than moved back.
func netnsCookie(ns netns.NsHandle) (uint64, error) {
	type result struct {
		cookie uint64
		err    error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		if ns != 0 {
			if err := netns.Set(ns); err != nil {
				done <- result{err: fmt.Errorf("enter network namespace: %w", err)}
				return
			}
		}
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			done <- result{err: fmt.Errorf("socket: %w", err)}
			return
		}
		defer unix.Close(fd)
		v, err := unix.GetsockoptUint64(fd, unix.SOL_SOCKET, unix.SO_NETNS_COOKIE)
		if err != nil {
			err = fmt.Errorf("SO_NETNS_COOKIE: %w", err)
		}
		done <- result{v, err}
	}()
	r := <-done
	return r.cookie, r.err
}

// cgroupPidMode picks how cgroup socket programs identify the current
// process, by probing what the kernel lets them call:
// bpf_get_ns_current_pid_tgid (opened to all program types in Linux 6.10),
// else bpf_get_current_pid_tgid, which is right only in the initial pid
// namespace.
func cgroupPidMode(initialNS bool) pidMode {
	if features.HaveProgramHelper(ebpf.CGroupSock, asm.FnGetNsCurrentPidTgid) == nil {
		return pidNamespace
	}
	if initialNS && features.HaveProgramHelper(ebpf.CGroupSock, asm.FnGetCurrentPidTgid) == nil {
		return pidGlobal
	}
	return pidNone
}

//go:build linux

package ebpftrigger

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/features"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"
	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"
)

// initPidNSInode is the inode number of the initial pid namespace
// (PROC_PID_INIT_INO), fixed by the kernel.
const initPidNSInode = 0xEFFFFFFC

// Trigger is a loaded and attached set of BPF programs plus the ring buffer
// they report to. Create it with New, then call Run once; Run detaches
// everything when it returns. Close releases a Trigger whose Run is never
// called.
type Trigger struct {
	window time.Duration
	log    *slog.Logger

	events *ebpf.Map // BPF_MAP_TYPE_RINGBUF of 8-byte events
	config *ebpf.Map // one-slot array: the ignored tgid and pid namespace
	nsDev  uint64    // the agent's pid namespace, as the kernel names it
	nsIno  uint64
	progs  []*ebpf.Program
	links  []link.Link
	reader *ringbuf.Reader
	rec    ringbuf.Record // reused by read

	// poll is a non-blocking duplicate of the ring buffer's fd, registered
	// with Go's netpoller. read waits on it instead of in the reader's own
	// blocking epoll_wait, which parks an OS thread per wait and cost
	// about half as much CPU again per event in the lab.
	poll   *os.File
	pollRC syscall.RawConn

	closing atomic.Bool // set by Close before it closes poll
	readMu  sync.Mutex  // serialises read and the reader's Close
	closed  bool        // the reader is closed

	closeOnce sync.Once
	closeErr  error
}

// New loads the programs, attaches them and opens the ring buffer. Its
// error says why eBPF cannot be used here (privilege, kernel version, no
// cgroup2 mount); the caller logs it once and falls back to scanning.
func New(opts Options) (_ *Trigger, err error) {
	t := &Trigger{window: opts.Coalesce, log: opts.Logger}
	if t.window <= 0 {
		t.window = DefaultCoalesce
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
	cgroup := opts.Cgroup
	if cgroup == "" {
		if cgroup, err = findCgroup2(); err != nil {
			return nil, fmt.Errorf("find cgroup2 mount for the UDP hooks: %w", err)
		}
	}
	var ns unix.Stat_t
	if err := unix.Stat("/proc/self/ns/pid", &ns); err != nil {
		return nil, fmt.Errorf("identify pid namespace: %w", err)
	}

	t.events, err = ebpf.NewMap(&ebpf.MapSpec{
		Name:       "wslfwd_events",
		Type:       ebpf.RingBuf,
		MaxEntries: uint32(os.Getpagesize()),
	})
	if err != nil {
		return nil, fmt.Errorf("create ring buffer (needs Linux 5.8): %w", err)
	}
	t.config, err = ebpf.NewMap(&ebpf.MapSpec{
		Name:       "wslfwd_config",
		Type:       ebpf.Array,
		KeySize:    4,
		ValueSize:  configSize,
		MaxEntries: 1,
	})
	if err != nil {
		return nil, fmt.Errorf("create config map: %w", err)
	}
	ignore := opts.IgnorePID
	if ignore == 0 {
		ignore = uint32(os.Getpid())
	}
	// The kernel compares the namespace's device in its internal encoding
	// (MKDEV: major<<20 | minor), not stat's.
	t.nsDev = uint64(unix.Major(ns.Dev))<<20 | uint64(unix.Minor(ns.Dev))
	t.nsIno = ns.Ino
	if err := t.ignore(ignore); err != nil {
		return nil, err
	}

	cgMode := cgroupPidMode(ns.Ino == initPidNSInode)
	if cgMode == pidNone {
		t.log.Info("ebpf trigger: this kernel cannot tell cgroup socket programs which process runs them outside the initial pid namespace; UDP binds by the agent itself would wake it (the agent binds none)")
	}
	if err := t.attach(cgroup, cgMode, sockProtocolOffset(t.log)); err != nil {
		return nil, err
	}
	if t.reader, err = ringbuf.NewReader(t.events); err != nil {
		return nil, fmt.Errorf("open ring buffer: %w", err)
	}
	// The duplicate shares the ring's wait queue: it turns readable when
	// the kernel notifies the consumer.
	fd, err := unix.FcntlInt(uintptr(t.events.FD()), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("dup ring buffer: %w", err)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("ring buffer: %w", err)
	}
	t.poll = os.NewFile(uintptr(fd), "ringbuf")
	if t.pollRC, err = t.poll.SyscallConn(); err != nil {
		return nil, fmt.Errorf("ring buffer: %w", err)
	}
	return t, nil
}

// attach loads the four programs and attaches them: the listen program to
// the raw tracepoint, the UDP ones to the cgroup. What it attached is
// recorded in t for Close, also when it fails half way.
func (t *Trigger) attach(cgroup string, cgMode pidMode, protoOff int32) error {
	cgroupLink := func(at ebpf.AttachType) func(*ebpf.Program) (link.Link, error) {
		return func(p *ebpf.Program) (link.Link, error) {
			return link.AttachCgroup(link.CgroupOptions{Path: cgroup, Attach: at, Program: p})
		}
	}
	for _, a := range []struct {
		name  string
		typ   ebpf.ProgramType
		at    ebpf.AttachType
		insns asm.Instructions
		link  func(*ebpf.Program) (link.Link, error)
	}{
		{"wslfwd_listen", ebpf.RawTracepoint, ebpf.AttachNone, listenProgram(t.events, t.config, protoOff),
			func(p *ebpf.Program) (link.Link, error) {
				return link.AttachRawTracepoint(link.RawTracepointOptions{Name: "inet_sock_set_state", Program: p})
			}},
		{"wslfwd_bind4", ebpf.CGroupSock, ebpf.AttachCGroupInet4PostBind, udpBindProgram(t.events, t.config, cgMode),
			cgroupLink(ebpf.AttachCGroupInet4PostBind)},
		{"wslfwd_bind6", ebpf.CGroupSock, ebpf.AttachCGroupInet6PostBind, udpBindProgram(t.events, t.config, cgMode),
			cgroupLink(ebpf.AttachCGroupInet6PostBind)},
		{"wslfwd_release", ebpf.CGroupSock, ebpf.AttachCgroupInetSockRelease, udpReleaseProgram(t.events, t.config, cgMode),
			cgroupLink(ebpf.AttachCgroupInetSockRelease)},
	} {
		prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
			Name:         a.name,
			Type:         a.typ,
			AttachType:   a.at,
			Instructions: a.insns,
			// The helpers used (ring buffer, probe read, pid namespace)
			// are GPL-only: the kernel wants a GPL-compatible license.
			License: "Dual MIT/GPL",
		})
		if err != nil {
			return fmt.Errorf("load %s: %w", a.name, err)
		}
		t.progs = append(t.progs, prog)
		l, err := a.link(prog)
		if err != nil {
			return fmt.Errorf("attach %s: %w", a.name, err)
		}
		t.links = append(t.links, l)
	}
	return nil
}

// Run wakes the agent whenever a socket enters or leaves LISTEN or a UDP
// socket is bound or closed, coalescing bursts (see Options.Coalesce). It
// blocks until ctx is done, then detaches the programs and returns nil. It
// returns an error if the ring buffer fails. Run must be called at most once.
func (t *Trigger) Run(ctx context.Context, wake func()) error {
	defer t.Close()
	stop := context.AfterFunc(ctx, func() { t.Close() })
	defer stop()
	debug := t.log.Enabled(ctx, slog.LevelDebug)
	err := coalesce(func(deadline time.Time) (bool, error) {
		e, err := t.read(deadline)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		if debug {
			t.log.Debug("ebpf trigger: socket change", "kind", e.kind, "pid", e.pid)
		}
		return true, nil
	}, t.window, wake)
	if errors.Is(err, ringbuf.ErrClosed) {
		return t.Close() // ctx is done, or Close was called
	}
	return fmt.Errorf("ebpf trigger: %w", err)
}

// Close detaches the programs and frees the maps. It is safe to call more
// than once and concurrently with Run, which it stops.
func (t *Trigger) Close() error {
	t.closeOnce.Do(func() {
		var errs []error
		t.closing.Store(true)
		if t.poll != nil {
			errs = append(errs, t.poll.Close()) // interrupts read
		}
		t.readMu.Lock()
		t.closed = true
		if t.reader != nil {
			errs = append(errs, t.reader.Close())
		}
		t.readMu.Unlock()
		for _, l := range t.links {
			errs = append(errs, l.Close())
		}
		for _, p := range t.progs {
			errs = append(errs, p.Close())
		}
		for _, m := range []*ebpf.Map{t.events, t.config} {
			if m != nil {
				errs = append(errs, m.Close())
			}
		}
		if err := errors.Join(errs...); err != nil {
			t.closeErr = fmt.Errorf("ebpf trigger: close: %w", err)
		}
	})
	return t.closeErr
}

// event is one record from the ring buffer.
type event struct {
	kind uint32
	pid  uint32 // tgid in the agent's pid namespace; 0 if outside it or unknown
}

// read returns the next event. It fails with os.ErrDeadlineExceeded once
// deadline passes (a zero deadline never does) and with ringbuf.ErrClosed
// after Close. Only Run or a test's single reader may call it.
func (t *Trigger) read(deadline time.Time) (event, error) {
	t.readMu.Lock()
	defer t.readMu.Unlock()
	for {
		if t.closed {
			return event{}, ringbuf.ErrClosed
		}
		if t.reader.AvailableBytes() > 0 {
			t.reader.SetDeadline(time.Unix(1, 0)) // in the past: never block here
			err := t.reader.ReadInto(&t.rec)
			if err == nil {
				break
			}
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				return event{}, err
			}
		}
		t.poll.SetReadDeadline(deadline)
		err := t.pollRC.Read(func(uintptr) bool { return t.reader.AvailableBytes() > 0 })
		if err != nil && t.closing.Load() {
			return event{}, ringbuf.ErrClosed
		}
		if err != nil {
			return event{}, err
		}
	}
	if len(t.rec.RawSample) < eventSize {
		return event{}, fmt.Errorf("short ring buffer record: %d bytes", len(t.rec.RawSample))
	}
	return event{
		kind: binary.NativeEndian.Uint32(t.rec.RawSample[0:]),
		pid:  binary.NativeEndian.Uint32(t.rec.RawSample[4:]),
	}, nil
}

// ignore tells the programs which process (tgid in the agent's pid
// namespace) to drop events from. It takes effect for the next event.
func (t *Trigger) ignore(tgid uint32) error {
	var v [configSize]byte
	binary.NativeEndian.PutUint32(v[configTGID:], tgid)
	binary.NativeEndian.PutUint64(v[configDev:], t.nsDev)
	binary.NativeEndian.PutUint64(v[configIno:], t.nsIno)
	if err := t.config.Put(uint32(0), v[:]); err != nil {
		return fmt.Errorf("write config map: %w", err)
	}
	return nil
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

// sockProtocolOffset returns the byte offset of sk_protocol in struct sock
// from kernel BTF, or -1 when BTF is missing or sk_protocol is a bit field
// (before Linux 5.6): the listen program then skips its protocol check.
func sockProtocolOffset(log *slog.Logger) int32 {
	spec, err := btf.LoadKernelSpec()
	if err != nil {
		log.Info("ebpf trigger: no kernel BTF, so non-TCP listeners (SCTP) wake the agent too", "err", err)
		return -1
	}
	var sock *btf.Struct
	if err := spec.TypeByName("sock", &sock); err != nil {
		log.Info("ebpf trigger: no struct sock in kernel BTF, so non-TCP listeners wake the agent too", "err", err)
		return -1
	}
	for _, m := range sock.Members {
		if m.Name != "sk_protocol" {
			continue
		}
		if size, err := btf.Sizeof(m.Type); err != nil || size != 2 || m.BitfieldSize != 0 || m.Offset%8 != 0 {
			break
		}
		return int32(m.Offset.Bytes())
	}
	log.Info("ebpf trigger: sk_protocol is not a plain u16 in this kernel, so non-TCP listeners wake the agent too")
	return -1
}

// explain adds the likely cause to the errors users meet most. A verifier
// rejection (EACCES too) carries its own log and is left alone.
func explain(err error) error {
	var verr *ebpf.VerifierError
	switch {
	case errors.As(err, &verr):
		return err
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
		return fmt.Errorf("%w (needs root, or CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN, and a kernel not locked down against BPF)", err)
	case errors.Is(err, ebpf.ErrNotSupported), errors.Is(err, unix.ENOSYS), errors.Is(err, unix.EINVAL):
		return fmt.Errorf("%w (needs Linux 5.9 or later with BPF ring buffers, raw tracepoints and cgroup socket hooks)", err)
	}
	return err
}

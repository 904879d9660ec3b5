//go:build linux

package ebpftrigger

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/ringbuf"

	"golang.org/x/sys/unix"

	"github.com/wslfwd/wslfwd/agent-linux/trigger"
)

var _ trigger.EventSource = (*Trigger)(nil)

// childEnv makes the test binary act as a helper process (see TestMain).
const childEnv = "WSLFWD_EBPFTRIGGER_CHILD"

// TestMain lets tests re-run this binary as a separate process: one that
// opens a listener (a process other than the one the trigger ignores), or
// one that tries New without privileges.
func TestMain(m *testing.M) {
	switch os.Getenv(childEnv) {
	case "":
		os.Exit(m.Run())
	case "listen":
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		l.Close()
		os.Exit(0)
	case "pidns-agent":
		if err := pidNamespaceAgent(); err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		os.Exit(0)
	case "no-cgroup2":
		if err := noCgroup2Agent(); err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		os.Exit(0)
	case "new":
		tr, err := New(Options{})
		if err == nil {
			tr.Close()
			fmt.Println("New succeeded without privileges")
			os.Exit(1)
		}
		fmt.Println(err)
		os.Exit(0)
	default:
		os.Exit(2)
	}
}

// needRoot skips the test, saying why, unless it runs as root.
func needRoot(t testing.TB, why string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: " + why)
	}
}

const loadBPF = "loading and attaching BPF programs"

// newTrigger loads a trigger that ignores the given process and closes it
// when the test ends.
func newTrigger(t *testing.T, ignore int) *Trigger {
	t.Helper()
	needRoot(t, loadBPF)
	tr, err := New(Options{IgnorePID: uint32(ignore)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

// readEvents hands every event to fn until the trigger is closed.
func (t *Trigger) readEvents(fn func(event)) error {
	for {
		e, _, err := t.read(time.Time{})
		if errors.Is(err, ringbuf.ErrClosed) {
			return nil
		}
		if err != nil {
			return err
		}
		fn(e)
	}
}

// watch delivers the trigger's events, in ring buffer order, until the test
// ends. Other processes on the machine cause events too, so tests look for
// their own by kind and pid.
func watch(t *testing.T, tr *Trigger) <-chan event {
	t.Helper()
	ch := make(chan event, 1<<14)
	done := make(chan struct{})
	go func() {
		defer close(ch)
		tr.readEvents(func(e event) {
			select {
			case ch <- e:
			case <-done:
			}
		})
	}()
	t.Cleanup(func() { close(done); tr.Close() })
	return ch
}

// await returns once an event of the given kind from pid arrives, with
// the events from pid that came before it.
func await(t *testing.T, ch <-chan event, kind uint32, pid int, what string) (before []event) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case e := <-ch:
			if e.pid != uint32(pid) {
				continue
			}
			if e.kind == kind {
				return before
			}
			before = append(before, e)
		case <-deadline:
			t.Fatalf("no event of kind %d from pid %d: %s (earlier from it: %v)", kind, pid, what, before)
		}
	}
}

func expectNone(t *testing.T, got []event, what string) {
	t.Helper()
	if len(got) > 0 {
		t.Fatalf("%s: unexpected events %+v", what, got)
	}
}

// udpBindClose binds an unconnected UDP socket on addr and closes it.
func udpBindClose(t *testing.T, addr string) {
	t.Helper()
	c, err := net.ListenPacket("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
}

func TestTCPListenAndCloseReported(t *testing.T) {
	tr := newTrigger(t, os.Getppid())
	events := watch(t, tr)
	self := os.Getpid()

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	expectNone(t, await(t, events, kindTCPListen, self, "listen()"), "before listen")

	// A connection's own transitions, including the accepted socket's
	// LISTEN->SYN_RECV clone, must not look like the listener changing.
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	s.Close()
	// A UDP bind marks the point by which any event of the connection's
	// would have been read.
	marker, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer marker.Close()
	expectNone(t, await(t, events, kindUDPBind, self, "marker bind()"), "a connection through the listener")
	l.Close()
	expectNone(t, await(t, events, kindTCPUnlisten, self, "close() of the listener"), "after the marker")
}

func TestTCPListenV6Reported(t *testing.T) {
	tr := newTrigger(t, os.Getppid())
	events := watch(t, tr)
	l, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	}
	l.Close()
	await(t, events, kindTCPListen, os.Getpid(), "listen() on ::1")
	await(t, events, kindTCPUnlisten, os.Getpid(), "close() of the ::1 listener")
}

func TestUDPBindAndCloseReported(t *testing.T) {
	tr := newTrigger(t, os.Getppid())
	events := watch(t, tr)
	self := os.Getpid()

	u, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	expectNone(t, await(t, events, kindUDPBind, self, "bind()"), "before bind")
	// A connected UDP socket (a DNS lookup, say) binds implicitly and is
	// not a listener: neither its autobind nor its close is reported.
	c, err := net.Dial("udp", u.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	// A TCP listener marks the point by which any event of the connected
	// socket's would have been read.
	marker, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer marker.Close()
	expectNone(t, await(t, events, kindTCPListen, self, "marker listen()"), "a connected UDP socket")
	u.Close()
	expectNone(t, await(t, events, kindUDPRelease, self, "close() of the bound socket"), "after the marker")

	if c6, err := net.ListenPacket("udp6", "[::1]:0"); err == nil {
		c6.Close()
		await(t, events, kindUDPBind, self, "bind() on ::1")
		await(t, events, kindUDPRelease, self, "close() of the ::1 socket")
	}
}

func TestOwnProcessIgnoredInKernel(t *testing.T) {
	tr := newTrigger(t, os.Getppid())
	events := watch(t, tr)
	self := os.Getpid()

	// While another process is ignored, ours is reported: the test below
	// can see our events if the filter lets them through.
	udpBindClose(t, "127.0.0.1:0")
	await(t, events, kindUDPBind, self, "bind() while another process is ignored")
	await(t, events, kindUDPRelease, self, "close() while another process is ignored")

	if err := tr.ignore(uint32(self)); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	udpBindClose(t, "127.0.0.1:0")

	// A child listens after all of that. The ring buffer keeps order, so
	// once the child's event is read every event of ours would have been
	// read before it: a bounded check without a sleep.
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), childEnv+"=listen")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v: %s", err, out)
	}
	child := cmd.Process.Pid
	deadline := time.After(10 * time.Second)
	for {
		select {
		case e := <-events:
			if e.pid == uint32(self) {
				t.Fatalf("event %+v from the ignored process reached user space", e)
			}
			if e.pid == uint32(child) && e.kind == kindTCPListen {
				return
			}
		case <-deadline:
			t.Fatalf("no listen event from child %d", child)
		}
	}
}

func TestRunEventsDeliversThenDetachesOnCancel(t *testing.T) {
	tr := newTrigger(t, os.Getppid())
	var ids []ebpf.ProgramID
	for _, p := range tr.progs {
		info, err := p.Info()
		if err != nil {
			t.Fatal(err)
		}
		id, ok := info.ID()
		if !ok {
			t.Fatal("kernel reports no program IDs")
		}
		ids = append(ids, id)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan trigger.Event, 1024)
	ran := make(chan error, 1)
	go func() {
		ran <- tr.RunEvents(ctx, func(evs []trigger.Event) {
			for _, e := range evs {
				select {
				case got <- e:
				default:
				}
			}
		})
	}()

	// Other processes cause events too: look for this listener's.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := uint16(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	// The close is matched by inode: the kernel may clear the port first.
	next := func(what string, match func(trigger.Event) bool) trigger.Event {
		for {
			select {
			case e := <-got:
				if e.Protocol == unix.IPPROTO_TCP && e.PID == uint32(os.Getpid()) && match(e) {
					return e
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("RunEvents delivered no event for the %s of the listener on port %d", what, port)
			}
		}
	}
	opened := next("listen()", func(e trigger.Event) bool { return e.Kind == trigger.Opened && e.Port == port })
	next("close()", func(e trigger.Event) bool { return e.Kind == trigger.Closed && e.Inode == opened.Inode })

	cancel()
	select {
	case err := <-ran:
		if err != nil {
			t.Fatalf("Run after cancel: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}

	// The kernel frees detached programs after an RCU grace period: poll.
	deadline := time.Now().Add(10 * time.Second)
	for _, id := range ids {
		for {
			p, err := ebpf.NewProgramFromID(id)
			if errors.Is(err, os.ErrNotExist) {
				break
			}
			if err == nil {
				p.Close()
			} else {
				t.Fatalf("look up program %d: %v", id, err)
			}
			if time.Now().After(deadline) {
				t.Fatalf("program %d still loaded after Run returned", id)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

func TestNewWithoutPrivilegeSaysWhy(t *testing.T) {
	needRoot(t, "to run the probe as an unprivileged user")
	dir, err := os.MkdirTemp("", "ebpftrigger-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "probe")
	if err := copyFile(os.Args[0], bin); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), childEnv+"=new")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("unprivileged child: %v: %s", err, out)
	}
	if msg := string(out); !strings.Contains(msg, "ebpf trigger:") || !strings.Contains(msg, "needs root") {
		t.Fatalf("error does not say why: %q", msg)
	}
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// TestProgramVariantsVerify loads the program variants this kernel does not
// pick, so a verifier rejection shows up here rather than on an older
// kernel in the field.
func TestProgramVariantsVerify(t *testing.T) {
	tr := newTrigger(t, os.Getppid())
	load := func(name string, typ ebpf.ProgramType, at ebpf.AttachType, insns asm.Instructions) {
		t.Helper()
		p, err := ebpf.NewProgram(&ebpf.ProgramSpec{
			Name: name, Type: typ, AttachType: at, Instructions: insns, License: "Dual MIT/GPL",
		})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		p.Close()
	}
	load("listen_nolayout", ebpf.RawTracepoint, ebpf.AttachNone, listenProgram(tr.events, tr.config, nil))
	for _, mode := range []pidMode{pidNamespace, pidGlobal, pidNone} {
		if mode == pidNamespace && cgroupPidMode(false) != pidNamespace {
			continue // this kernel cannot do it; New does not ask for it
		}
		load(fmt.Sprint("bind_", mode), ebpf.CGroupSock, ebpf.AttachCGroupInet4PostBind,
			udpBindProgram(tr.events, tr.config, udpFilter{mode: mode, cookie: tr.cookie}))
		load(fmt.Sprint("release_", mode), ebpf.CGroupSock, ebpf.AttachCgroupInetSockRelease,
			udpReleaseProgram(tr.events, tr.config, udpFilter{mode: mode, cookie: tr.cookie}))
	}
}

func TestExplainNamesCause(t *testing.T) {
	for _, tc := range []struct {
		err       error
		want, not string
	}{
		{fmt.Errorf("create ring buffer: %w", syscall.EPERM), "needs root", "needs Linux"},
		{fmt.Errorf("load: %w", ebpf.ErrNotSupported), "needs Linux 5.9", "needs root"},
		{errors.New("something else"), "something else", "needs"},
		// The verifier also answers EACCES, but its log is the reason.
		{&ebpf.VerifierError{Cause: syscall.EACCES, Log: []string{"R1 invalid mem access"}}, "invalid mem access", "needs root"},
	} {
		got := explain(tc.err).Error()
		if !strings.Contains(got, tc.want) || strings.Contains(got, tc.not) {
			t.Errorf("explain(%v) = %q, want %q and not %q", tc.err, got, tc.want, tc.not)
		}
	}
}

// bpfFDs counts this process's open BPF programs, maps and links.
func bpfFDs(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		if err == nil && strings.HasPrefix(target, "anon_inode:bpf") {
			n++
		}
	}
	return n
}

// When the UDP hooks cannot attach, the TCP part stays live and reports,
// and what the UDP part had loaded is released.
func TestUDPHooksFailAloneTCPStays(t *testing.T) {
	needRoot(t, loadBPF)
	before := bpfFDs(t)
	full := newTrigger(t, os.Getppid())
	if p := full.Parts(); p.TCP != nil || p.UDP != nil {
		t.Fatalf("parts of a trigger that loaded whole: %+v", p)
	}
	whole := bpfFDs(t) - before
	full.Close()

	// Not a cgroup: the tracepoint program attaches, the first cgroup hook
	// fails, and New must undo the UDP part alone.
	tr, err := New(Options{IgnorePID: uint32(os.Getppid()), Cgroup: t.TempDir()})
	if err != nil {
		t.Fatalf("New failed as a whole when only the UDP hooks could not attach: %v", err)
	}
	p := tr.Parts()
	if p.TCP != nil || p.UDP == nil || !strings.Contains(p.UDP.Error(), "attach wslfwd_bind4") {
		t.Fatalf("parts = %+v, want TCP live and UDP failed at attach wslfwd_bind4", p)
	}
	// Three programs and their three links fewer than the whole trigger.
	if got := bpfFDs(t) - before; got != whole-6 {
		t.Errorf("%d BPF objects open with the TCP part alone, want %d (whole: %d)", got, whole-6, whole)
	}
	events := watch(t, tr)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	await(t, events, kindTCPListen, os.Getpid(), "listen() with the TCP part alone")
	tr.Close()
	if after := bpfFDs(t); after != before {
		t.Fatalf("%d BPF objects left open after Close", after-before)
	}
}

// Where no cgroup2 is mounted in view (under `ip netns exec`, in a
// container), the trigger mounts one privately for the UDP hooks. The
// child runs in a mount namespace of its own without one; see
// noCgroup2Agent.
func TestUDPHooksWithoutCgroup2Mount(t *testing.T) {
	needRoot(t, loadBPF)
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), childEnv+"=no-cgroup2")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNS}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("agent without a cgroup2 mount: %v: %s", err, out)
	}
}

// noCgroup2Agent is the child side: it unmounts every cgroup2 in its own
// mount namespace (made private first, so nothing reaches the parent's),
// loads a trigger and checks that UDP binds are reported and that no
// mount is left in its namespace.
func noCgroup2Agent() error {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make mounts private: %w", err)
	}
	for {
		dir, err := findCgroup2()
		if errors.Is(err, errNoCgroup2) {
			break
		}
		if err != nil {
			return err
		}
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			return fmt.Errorf("unmount %s: %w", dir, err)
		}
	}
	tr, err := New(Options{IgnorePID: uint32(os.Getppid())})
	if err != nil {
		return err
	}
	defer tr.Close()
	if p := tr.Parts(); p.TCP != nil || p.UDP != nil {
		return fmt.Errorf("parts without a cgroup2 mount: %+v", p)
	}
	if _, err := findCgroup2(); !errors.Is(err, errNoCgroup2) {
		return fmt.Errorf("the private cgroup2 mount shows in the agent's mount table: %v", err)
	}
	events := make(chan event, 1<<14)
	go tr.readEvents(func(e event) {
		select {
		case events <- e:
		default:
		}
	})
	u, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		return err
	}
	port := uint16(u.LocalAddr().(*net.UDPAddr).Port)
	u.Close()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case e := <-events:
			if e.kind == kindUDPBind && e.port == port {
				return nil
			}
		case <-deadline:
			return fmt.Errorf("no bind event for UDP port %d", port)
		}
	}
}

// TestOwnProcessIgnoredInPidNamespace runs the trigger the way WSL2 runs
// the agent: in a pid namespace of its own, where os.Getpid() is not the
// kernel's global tgid. See pidNamespaceAgent.
func TestOwnProcessIgnoredInPidNamespace(t *testing.T) {
	needRoot(t, loadBPF)
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), childEnv+"=pidns-agent")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("agent in a new pid namespace: %v: %s", err, out)
	}
}

// pidNamespaceAgent is the child side: as pid 1 of a new pid namespace it
// loads a trigger that ignores itself, listens, then lets its own child
// listen, and checks that only the child's event, with the child's pid as
// seen in this namespace, arrives.
func pidNamespaceAgent() error {
	if os.Getpid() != 1 {
		return fmt.Errorf("not in a new pid namespace: pid %d", os.Getpid())
	}
	tr, err := New(Options{})
	if err != nil {
		return err
	}
	defer tr.Close()
	events := make(chan event, 1<<14)
	go tr.readEvents(func(e event) {
		select {
		case events <- e:
		default:
		}
	})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	l.Close()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), childEnv+"=listen")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("child: %v: %s", err, out)
	}
	child := uint32(cmd.Process.Pid)
	deadline := time.After(10 * time.Second)
	for {
		select {
		case e := <-events:
			if e.pid == 1 {
				return fmt.Errorf("event %+v from the ignored process reached user space", e)
			}
			if e.pid == child && e.kind == kindTCPListen {
				return nil
			}
		case <-deadline:
			return fmt.Errorf("no listen event from child %d", child)
		}
	}
}

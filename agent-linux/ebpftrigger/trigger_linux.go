//go:build linux

package ebpftrigger

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"
	"golang.org/x/sys/unix"

	"github.com/wslfwd/wslfwd/agent-linux/trigger"
)

// initPidNSInode is the inode number of the initial pid namespace
// (PROC_PID_INIT_INO), fixed by the kernel.
const initPidNSInode = 0xEFFFFFFC

// Trigger is a loaded and attached set of BPF programs plus the ring buffer
// they report to. Create it with New, then call RunEvents once; it detaches
// everything when it returns. Close releases a Trigger whose RunEvents is
// never called.
type Trigger struct {
	window time.Duration
	log    *slog.Logger

	events    *ebpf.Map    // BPF_MAP_TYPE_RINGBUF of struct event
	config    *ebpf.Map    // one-slot array of struct config
	configMem *ebpf.Memory // config, mapped
	nsDev     uint64       // the agent's pid namespace, as the kernel names it
	nsIno     uint64
	netns     uint32 // inode of the network namespace watched
	cookie    uint64 // its netns cookie, 0 if the kernel cannot tell
	lost      uint64 // the config's lost count when last read
	progs     []*ebpf.Program
	links     []link.Link
	reader    *ringbuf.Reader
	rec       ringbuf.Record // reused by read

	// poll is a non-blocking duplicate of the ring buffer's fd, registered
	// with Go's netpoller. read waits on it instead of in the reader's own
	// blocking epoll_wait, which parks an OS thread per wait and cost
	// about half as much CPU again per event in the lab.
	poll   *os.File
	pollRC syscall.RawConn

	closing atomic.Bool // set by Close before it closes poll
	readMu  sync.Mutex  // serialises read and the reader's Close
	closed  bool        // the reader is closed

	parts Parts // what New made live

	closeOnce sync.Once
	closeErr  error
}

// RunEvents implements trigger.EventSource. It hands over the events as
// they arrive, a batch per read of the ring buffer, and a Lost event when
// the ring had no room for some. Events the kernel sends before it has
// finished the change (see early) are handed over again Options.Recheck
// later. It blocks until ctx is done, then detaches the programs and
// returns nil; it returns an error if the ring buffer fails. RunEvents must
// be called at most once.
func (t *Trigger) RunEvents(ctx context.Context, handle func([]trigger.Event)) error {
	defer t.Close()
	stop := context.AfterFunc(ctx, func() { t.Close() })
	defer stop()
	debug := t.log.Enabled(ctx, slog.LevelDebug)
	again := rechecks{window: t.window}
	var batch []trigger.Event
	for {
		e, more, err := t.read(again.next())
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
			// Rechecks are due; events read before may be waiting too.
			if batch = again.due(time.Now(), batch); len(batch) > 0 {
				handle(batch)
				batch = batch[:0]
			}
			continue
		case errors.Is(err, ringbuf.ErrClosed):
			return t.Close() // ctx is done, or Close was called
		case err != nil:
			return fmt.Errorf("ebpf trigger: %w", err)
		}
		if debug {
			t.log.Debug("ebpf trigger: socket change", "event", fmt.Sprintf("%+v", e))
		}
		ev := e.public()
		batch = append(batch, ev)
		if early(ev) {
			again.add(ev, time.Now())
		}
		if more && len(batch) < maxBatch {
			continue
		}
		batch = again.due(time.Now(), batch)
		if lost, err := t.lostCount(); err != nil || lost != t.lost {
			t.lost = lost
			batch = append(batch, trigger.Event{Kind: trigger.Lost})
		}
		handle(batch)
		batch = batch[:0]
	}
}

// maxBatch bounds a batch, so a storm is handed over in parts.
const maxBatch = 256

// ringSize is the ring buffer's size in bytes: room for over a thousand
// events, so a service opening a thousand ports at once is seen port by
// port rather than as lost events and a full re-read.
const ringSize = 64 << 10

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

// event is one record from the ring buffer (struct event).
type event struct {
	kind   uint32
	pid    uint32 // tgid in the agent's pid namespace; 0 if outside it or unknown
	inode  uint64
	uid    uint32
	family uint16
	port   uint16
	addr   [16]byte
	v6only bool
	comm   [16]byte
}

func decode(b []byte) (event, error) {
	if len(b) < eventSize {
		return event{}, fmt.Errorf("short ring buffer record: %d bytes", len(b))
	}
	ne := binary.NativeEndian
	return event{
		kind:   ne.Uint32(b[0:]),
		pid:    ne.Uint32(b[eventPID:]),
		inode:  ne.Uint64(b[eventInode:]),
		uid:    ne.Uint32(b[eventUID:]),
		family: ne.Uint16(b[eventFamily:]),
		port:   ne.Uint16(b[eventPort:]),
		addr:   [16]byte(b[eventAddr : eventAddr+16]),
		v6only: b[eventV6Only] != 0,
		comm:   [16]byte(b[eventComm : eventComm+16]),
	}, nil
}

// public turns a record into the agent's event. The address is valid only
// for a family the kernel reported.
func (e event) public() trigger.Event {
	ev := trigger.Event{
		Kind:     trigger.Opened,
		Protocol: ipprotoTCP,
		Port:     e.port,
		PID:      e.pid,
	}
	switch e.kind {
	case kindTCPUnlisten:
		ev.Kind = trigger.Closed
	case kindUDPBind:
		ev.Protocol = ipprotoUDP
	case kindUDPRelease:
		ev.Kind, ev.Protocol = trigger.Closed, ipprotoUDP
	}
	switch e.family {
	case unix.AF_INET:
		ev.Family = unix.AF_INET
		ev.Addr = netip.AddrFrom4([4]byte(e.addr[:4]))
	case unix.AF_INET6:
		ev.Family = unix.AF_INET6
		ev.Addr = netip.AddrFrom16(e.addr)
	}
	if ev.PID != 0 {
		ev.Comm = string(bytes.TrimRight(e.comm[:], "\x00"))
	}
	if ev.Protocol == ipprotoTCP && ev.Addr.IsValid() {
		ev.Inode, ev.UID, ev.V6Only = e.inode, e.uid, e.v6only
	} else {
		ev.Addr = netip.Addr{}
	}
	return ev
}

// early reports whether the kernel sent ev before finishing the change:
// inet_sock_set_state fires before the socket is added to or removed from
// the tables sock_diag reads, and the sock_release hook runs before the
// socket is unhashed. Such an event is handed over again a window later,
// because a re-read it prompts at once may not see the change yet. A TCP
// event that describes its socket whole needs no re-read, and UDP's
// post_bind hook runs after the socket is hashed.
func early(ev trigger.Event) bool {
	if ev.Protocol == ipprotoUDP {
		return ev.Kind == trigger.Closed
	}
	return !ev.Whole()
}

// read returns the next event, and whether another is ready. It fails
// with os.ErrDeadlineExceeded once deadline passes (a zero deadline never
// does) and with ringbuf.ErrClosed after Close. Only RunEvents or a test's
// single reader may call it.
func (t *Trigger) read(deadline time.Time) (_ event, more bool, _ error) {
	t.readMu.Lock()
	defer t.readMu.Unlock()
	for {
		if t.closed {
			return event{}, false, ringbuf.ErrClosed
		}
		if t.reader.AvailableBytes() > 0 {
			t.reader.SetDeadline(time.Unix(1, 0)) // in the past: never block here
			err := t.reader.ReadInto(&t.rec)
			if err == nil {
				break
			}
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				return event{}, false, err
			}
		}
		t.poll.SetReadDeadline(deadline)
		err := t.pollRC.Read(func(uintptr) bool { return t.reader.AvailableBytes() > 0 })
		if err != nil && t.closing.Load() {
			return event{}, false, ringbuf.ErrClosed
		}
		if err != nil {
			return event{}, false, err
		}
	}
	e, err := decode(t.rec.RawSample)
	return e, t.reader.AvailableBytes() > 0, err
}

// lostCount reads how many events the programs had no room for.
func (t *Trigger) lostCount() (uint64, error) {
	var v [8]byte
	if _, err := t.configMem.ReadAt(v[:], configLost); err != nil {
		return 0, fmt.Errorf("read config map: %w", err)
	}
	return binary.NativeEndian.Uint64(v[:]), nil
}

// ignore tells the programs which process (tgid in the agent's pid
// namespace) to drop events from, and which network namespace to watch.
// It takes effect for the next event and restarts the lost count.
func (t *Trigger) ignore(tgid uint32) error {
	var v [configSize]byte
	binary.NativeEndian.PutUint32(v[configTGID:], tgid)
	binary.NativeEndian.PutUint32(v[configNetNS:], t.netns)
	binary.NativeEndian.PutUint64(v[configDev:], t.nsDev)
	binary.NativeEndian.PutUint64(v[configIno:], t.nsIno)
	if err := t.config.Put(uint32(0), v[:]); err != nil {
		return fmt.Errorf("write config map: %w", err)
	}
	t.lost = 0
	return nil
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

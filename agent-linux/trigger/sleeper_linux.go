//go:build linux

package trigger

import (
	"context"
	"fmt"
	"os"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/wslfwd/wslfwd/agent-linux/rawio"
)

// Timerfd is a Sleeper on a Linux timerfd, waited for in the netpoller.
//
// A Go timer sets when the runtime's monitor thread (sysmon) next wakes:
// idle, it sleeps until the next timer is due, so every periodic scan woke
// it too, and it then looked again 20 µs later, while the scan ran: two
// thread wake-ups per scan, 14 % of the scan-only agent's CPU in the lab.
// A timerfd is a file the netpoller waits on like a socket, so the
// runtime sees no timer. It is armed and read with raw system calls, which
// do not wake sysmon either (see rawio).
type Timerfd struct {
	f   *os.File
	raw *rawio.Socket
	buf [8]byte // the expiry count a read returns
}

// NewTimerfd returns a Timerfd; Close releases it.
func NewTimerfd() (*Timerfd, error) {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("timerfd_create: %w", err)
	}
	f, raw, err := rawio.NewFile(fd, "timerfd")
	if err != nil {
		return nil, err
	}
	return &Timerfd{f: f, raw: raw}, nil
}

// Sleep implements Sleeper. It returns ctx.Err() early when ctx is done,
// which closes the Timerfd. Only one Sleep may run at a time.
func (t *Timerfd) Sleep(ctx context.Context, d time.Duration) error {
	spec := unix.ItimerSpec{Value: unix.NsecToTimespec(max(d.Nanoseconds(), 1))} // zero would disarm
	if _, _, e := unix.RawSyscall6(unix.SYS_TIMERFD_SETTIME, t.f.Fd(), 0, uintptr(unsafe.Pointer(&spec)), 0, 0, 0); e != 0 {
		return fmt.Errorf("timerfd_settime: %w", e)
	}
	stop := context.AfterFunc(ctx, func() { t.f.Close() })
	defer stop()
	if _, err := t.raw.Read(t.buf[:]); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("read timerfd: %w", err)
	}
	return nil
}

// Close releases the timerfd.
func (t *Timerfd) Close() error { return t.f.Close() }

// platformSleeper returns a Timerfd, or Go's timers where the kernel
// cannot make one, and what releases it.
func platformSleeper() (Sleeper, func()) {
	t, err := NewTimerfd()
	if err != nil {
		return GoTimers{}, func() {}
	}
	return t, func() { t.Close() }
}

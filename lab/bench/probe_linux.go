//go:build linux

package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"golang.org/x/sys/unix"

	"github.com/wslfwd/wslfwd/lab/netlab"
)

// probeEvery spaces the prober's tries. The prober runs on one locked OS
// thread with blocking system calls and sleeps with nanosleep: Go's timers
// sleep in whole milliseconds when the runtime waits in epoll (a 250 µs
// time.Sleep took 1.1–1.2 ms), and a dial through the netpoller hands off
// to other threads, so the old prober's tries landed 1.65 ms apart and
// added about 1.2 ms at p50 to every time to forward. A refused connect
// returns at once, so the pause also keeps the prober from taking a core
// from the programs it measures on a small machine.
const probeEvery = 450 * time.Microsecond

// trialDeadline bounds one forward or unforward wait: past it the trial
// counts as a failure.
const trialDeadline = 5 * time.Second

// probeTimeout bounds one connect, write or read of a try.
const probeTimeout = time.Second

// dialBlocking connects a blocking TCP socket to addr (IPv4), on the
// calling thread. It returns the socket even when connect fails, for the
// caller to close.
func dialBlocking(addr netip.AddrPort) (int, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("socket: %w", err)
	}
	tv := unix.NsecToTimeval(probeTimeout.Nanoseconds())
	for _, opt := range []int{unix.SO_RCVTIMEO, unix.SO_SNDTIMEO} { // SNDTIMEO bounds connect too
		if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, opt, &tv); err != nil {
			return fd, fmt.Errorf("socket timeout: %w", err)
		}
	}
	return fd, unix.Connect(fd, &unix.SockaddrInet4{Port: int(addr.Port()), Addr: addr.Addr().As4()})
}

// probeMessage is what an echo try sends and expects back.
var probeMessage = []byte("wslfwd-bench")

// echoed reports whether a message sent to addr comes back: the forward
// exists and reaches a listener.
func echoed(addr netip.AddrPort) bool {
	fd, err := dialBlocking(addr)
	if fd >= 0 {
		defer unix.Close(fd)
	}
	if err != nil {
		return false
	}
	if n, err := unix.Write(fd, probeMessage); err != nil || n != len(probeMessage) {
		return false
	}
	got := make([]byte, 0, len(probeMessage))
	buf := make([]byte, len(probeMessage))
	for len(got) < len(probeMessage) {
		n, err := unix.Read(fd, buf[:len(probeMessage)-len(got)])
		if err != nil || n == 0 {
			return false
		}
		got = append(got, buf[:n]...)
	}
	return bytes.Equal(got, probeMessage)
}

// refused reports whether addr refuses a connection: nothing listens
// there, so the forward is gone.
func refused(addr netip.AddrPort) bool {
	fd, err := dialBlocking(addr)
	if fd >= 0 {
		unix.Close(fd)
	}
	return errors.Is(err, unix.ECONNREFUSED)
}

// pollFrom runs check inside ns every probeEvery until it returns true or
// deadline passes, and returns the CLOCK_MONOTONIC time of success. It
// runs on the one OS thread ns.Do locks.
func pollFrom(ctx context.Context, ns *netlab.NS, deadline time.Duration, check func() bool) (int64, error) {
	var at int64
	err := ns.Do(func() error {
		end := Monotonic() + deadline.Nanoseconds()
		pause := unix.NsecToTimespec(probeEvery.Nanoseconds())
		for {
			if check() {
				at = Monotonic()
				return nil
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			if Monotonic() > end {
				return fmt.Errorf("not within %v", deadline)
			}
			_ = unix.Nanosleep(&pause, nil) // EINTR only shortens one pause
		}
	})
	return at, err
}

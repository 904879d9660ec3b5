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
// thread with system calls of its own and sleeps with nanosleep: Go's
// timers sleep in whole milliseconds when the runtime waits in epoll (a
// 250 µs time.Sleep took 1.1–1.2 ms), and a dial through the netpoller
// hands off to other threads, so the old prober's tries landed 1.65 ms
// apart and added about 1.2 ms at p50 to every time to forward. The
// thread's timer slack is cut to 1 ns while it polls (poll): with Linux's
// default of 50 µs each pause overslept by about 100 µs.
//
// The interval adds about half of itself to every figure, and a denser
// prober is no more honest: paired full runs with tries every 150 µs gave
// a p50 0.45–0.52 ms lower than every 450 µs (socat's 0.18–0.38 ms), more
// than twice what the finer steps alone explain. The rest is the prober
// keeping a vCPU of this small VM from idling, which spares the programs
// it measures their wake-ups from idle: kinder than any real client. So
// the tries stay this far apart, and a refused try, about 20 µs of CPU,
// takes under a twentieth of a core.
const probeEvery = 450 * time.Microsecond

// answerWait bounds how long one try waits for its connect to be answered
// (accepted or refused). Over veth both answers come back within
// microseconds. A SYN that meets a listener as it closes is dropped
// without an answer, and TCP would send it again only after a second: a
// prober that waited for that measured 1,015 ms for one unforward in a
// full run. So a try that hears nothing within one interval is abandoned,
// counted as unanswered, and the next try starts at once: the wait has
// already spaced them.
const answerWait = probeEvery

// trialDeadline bounds one forward or unforward wait: past it the trial
// counts as a failure.
const trialDeadline = 5 * time.Second

// probeTimeout bounds the write and the read of an echo try, once
// connected: the relay's own dial into wsl is part of what is measured.
const probeTimeout = time.Second

// answer is what one try of the prober learned.
type answer int

const (
	notYet   answer = iota // answered: not (yet) in the state awaited
	done                   // answered: in the state awaited
	noAnswer               // no answer to the connect within answerWait
)

func (a answer) String() string {
	switch a {
	case notYet:
		return "not yet"
	case done:
		return "done"
	case noAnswer:
		return "no answer"
	}
	return fmt.Sprintf("answer(%d)", int(a))
}

// errUnanswered is a connect that got no answer within answerWait.
var errUnanswered = errors.New("connect not answered")

// dial connects a TCP socket to addr (IPv4) on the calling thread,
// waiting at most answerWait for the answer (errUnanswered without one),
// and leaves it blocking, each write and read bounded by probeTimeout. It
// returns the socket even when connect fails, for the caller to close.
func dial(addr netip.AddrPort) (int, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		return -1, fmt.Errorf("socket: %w", err)
	}
	err = unix.Connect(fd, &unix.SockaddrInet4{Port: int(addr.Port()), Addr: addr.Addr().As4()})
	if errors.Is(err, unix.EINPROGRESS) {
		err = awaitConnect(fd)
	}
	if err != nil {
		return fd, err
	}
	if err := unix.SetNonblock(fd, false); err != nil {
		return fd, fmt.Errorf("blocking socket: %w", err)
	}
	tv := unix.NsecToTimeval(probeTimeout.Nanoseconds())
	for _, opt := range []int{unix.SO_RCVTIMEO, unix.SO_SNDTIMEO} {
		if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, opt, &tv); err != nil {
			return fd, fmt.Errorf("socket timeout: %w", err)
		}
	}
	return fd, nil
}

// awaitConnect waits up to answerWait for fd's connect in progress and
// returns its outcome: nil once connected, the connect's error (such as
// ECONNREFUSED), or errUnanswered. A signal (the Go runtime preempts with
// SIGURG) only shortens one wait, and the last look at the socket is made
// at or after the deadline, so an answer that came while this thread was
// not running still counts.
func awaitConnect(fd int) error {
	end := Monotonic() + answerWait.Nanoseconds()
	for {
		ts := unix.NsecToTimespec(max(0, end-Monotonic()))
		n, err := unix.Ppoll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}, &ts, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("ppoll: %w", err)
		}
		if n == 0 {
			if ts.Nano() == 0 {
				return errUnanswered
			}
			continue // timed out: look once more, without waiting
		}
		soerr, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
		if err != nil {
			return fmt.Errorf("connect outcome: %w", err)
		}
		if soerr != 0 {
			return unix.Errno(soerr)
		}
		return nil
	}
}

// connectAnswer is the answer of a try whose connect failed with err.
func connectAnswer(err error) answer {
	if errors.Is(err, errUnanswered) {
		return noAnswer
	}
	return notYet
}

// probeMessage is what an echo try sends and expects back.
var probeMessage = []byte("wslfwd-bench")

// echoed tries whether a message sent to addr comes back: the forward
// exists and reaches a listener.
func echoed(addr netip.AddrPort) answer {
	fd, err := dial(addr)
	if fd >= 0 {
		defer unix.Close(fd)
	}
	if err != nil {
		return connectAnswer(err)
	}
	if n, err := unix.Write(fd, probeMessage); err != nil || n != len(probeMessage) {
		return notYet
	}
	got := make([]byte, 0, len(probeMessage))
	buf := make([]byte, len(probeMessage))
	for len(got) < len(probeMessage) {
		n, err := unix.Read(fd, buf[:len(probeMessage)-len(got)])
		if err != nil || n == 0 {
			return notYet
		}
		got = append(got, buf[:n]...)
	}
	if !bytes.Equal(got, probeMessage) {
		return notYet
	}
	return done
}

// refused tries whether addr refuses a connection: nothing listens there,
// so the forward is gone.
func refused(addr netip.AddrPort) answer {
	fd, err := dial(addr)
	if fd >= 0 {
		unix.Close(fd)
	}
	if errors.Is(err, unix.ECONNREFUSED) {
		return done
	}
	return connectAnswer(err)
}

// pollFrom runs poll inside ns, on the one OS thread ns.Do locks.
func pollFrom(ctx context.Context, ns *netlab.NS, deadline time.Duration, check func() answer) (at int64, unanswered int, err error) {
	err = ns.Do(func() error {
		at, unanswered, err = poll(ctx, deadline, check)
		return err
	})
	return at, unanswered, err
}

// poll runs check every probeEvery, on the calling thread, until it
// answers done or deadline passes, and returns the CLOCK_MONOTONIC time
// of success and how many tries went unanswered. A try that went
// unanswered has waited out its interval already, so the next starts at
// once.
func poll(ctx context.Context, deadline time.Duration, check func() answer) (at int64, unanswered int, err error) {
	if err := unix.Prctl(unix.PR_SET_TIMERSLACK, 1, 0, 0, 0); err != nil {
		return 0, 0, fmt.Errorf("timer slack: %w", err)
	}
	defer unix.Prctl(unix.PR_SET_TIMERSLACK, 0, 0, 0, 0) // the thread's default again
	end := Monotonic() + deadline.Nanoseconds()
	pause := unix.NsecToTimespec(probeEvery.Nanoseconds())
	for {
		a := check()
		switch a {
		case done:
			return Monotonic(), unanswered, nil
		case noAnswer:
			unanswered++
		}
		if err := ctx.Err(); err != nil {
			return 0, unanswered, err
		}
		if Monotonic() > end {
			return 0, unanswered, fmt.Errorf("not within %v", deadline)
		}
		if a != noAnswer {
			_ = unix.Nanosleep(&pause, nil) // EINTR only shortens one pause
		}
	}
}

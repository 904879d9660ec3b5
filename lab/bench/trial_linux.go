//go:build linux

package bench

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/wslfwd/wslfwd/lab/netlab"
)

// trialResult is one forward+unforward trial. A non-nil error is a failed
// half; the unforward half is not measured (skipped) when the forward
// failed, since there was nothing to take down.
type trialResult struct {
	forward, unforward       time.Duration
	forwardErr, unforwardErr error
	unforwardSkipped         bool
}

// goneCheck is how a trial sees a forward gone: check, run from ns by
// the prober, reports true once it is.
type goneCheck struct {
	ns    *netlab.NS
	check func() bool
}

// refusedFromLAN sees a relay's forward gone: lan's connection to to is
// refused, since nothing listens there any more.
func (b *run) refusedFromLAN(to netip.AddrPort) *goneCheck {
	return &goneCheck{b.env.Lab.LAN, func() bool { return refused(to) }}
}

// trial opens a listener in wsl on port and measures how long until lan
// gets an echo through to (the host's port that forwards it); then, with
// gone, closes it and measures how long until gone sees the forward gone.
// Without gone it only closes the listener. Helper failures abort the
// bench; missed deadlines only fail the trial.
//
// Before the open and before the close it waits a random time below
// phase. A periodic scan would otherwise lock the trials to its phase: each
// step starts just after the scan that ended the previous one, so every
// trial would wait a whole period instead of a uniformly spread part of it.
func (b *run) trial(ctx context.Context, port int, to netip.AddrPort, phase time.Duration, gone *goneCheck) (trialResult, error) {
	r := trialResult{unforwardSkipped: gone == nil}
	randomPause(phase)
	opened, err := b.helper.mono("listen %d", port)
	if err != nil {
		return r, err
	}
	at, err := pollFrom(ctx, b.env.Lab.LAN, trialDeadline, func() bool { return echoed(to) })
	if err != nil {
		r.forwardErr = fmt.Errorf("forward of port %d: %w", port, err)
		r.unforwardSkipped = true
	} else {
		r.forward = time.Duration(at - opened)
	}
	if err := ctx.Err(); err != nil {
		return r, err
	}
	time.Sleep(settle)
	randomPause(phase)
	closed, err := b.helper.mono("close %d", port)
	if err != nil || r.unforwardSkipped {
		time.Sleep(settle)
		return r, err
	}
	at, err = pollFrom(ctx, gone.ns, trialDeadline, gone.check)
	if err != nil {
		r.unforwardErr = fmt.Errorf("unforward of port %d: %w", port, err)
	} else {
		r.unforward = time.Duration(at - closed)
	}
	time.Sleep(settle)
	return r, ctx.Err()
}

// hostPort is where lan reaches port's forward: the host's LAN address.
func hostPort(port int) netip.AddrPort {
	return netip.AddrPortFrom(netlab.HostLANAddr.Addr(), uint16(port))
}

// tally adds r to a repeat's successes and the failure counts, logging
// failures.
func (r trialResult) tally(fwd, unfwd []time.Duration, ffail, ufail int, log io.Writer) ([]time.Duration, []time.Duration, int, int) {
	if r.forwardErr != nil {
		ffail++
		fmt.Fprintf(log, "     trial failed: %v\n", r.forwardErr)
	} else {
		fwd = append(fwd, r.forward)
	}
	switch {
	case r.unforwardSkipped:
	case r.unforwardErr != nil:
		ufail++
		fmt.Fprintf(log, "     trial failed: %v\n", r.unforwardErr)
	default:
		unfwd = append(unfwd, r.unforward)
	}
	return fwd, unfwd, ffail, ufail
}

// randomPause sleeps for a random time below limit (not at all when
// limit is zero).
func randomPause(limit time.Duration) {
	if limit > 0 {
		time.Sleep(rand.N(limit))
	}
}

// settle is the pause after each half of a trial, so that the agent's
// trailing re-scan and the daemon's reconcile of one step finish before
// the next step starts.
const settle = 20 * time.Millisecond

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

// trialResult is one forward+unforward trial. The unforward half is not
// measured (skipped) when the forward failed, since there was nothing to
// take down.
type trialResult struct {
	forward, unforward half
	unforwardSkipped   bool
}

// half is one half of a trial: how long it took, or why it failed, and
// how many of its tries went unanswered.
type half struct {
	took       time.Duration
	err        error
	unanswered int
}

// goneCheck is how a trial sees a forward gone: check, run from ns by
// the prober, answers done once it is.
type goneCheck struct {
	ns    *netlab.NS
	check func() answer
}

// refusedFromLAN sees a relay's forward gone: lan's connection to to is
// refused, since nothing listens there any more.
func (b *run) refusedFromLAN(to netip.AddrPort) *goneCheck {
	return &goneCheck{b.env.Lab.LAN, func() answer { return refused(to) }}
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
	r.forward = await(ctx, b.env.Lab.LAN, opened, func() answer { return echoed(to) })
	if r.forward.err != nil {
		r.forward.err = fmt.Errorf("forward of port %d: %w", port, r.forward.err)
		r.unforwardSkipped = true
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
	r.unforward = await(ctx, gone.ns, closed, gone.check)
	if r.unforward.err != nil {
		r.unforward.err = fmt.Errorf("unforward of port %d: %w", port, r.unforward.err)
	}
	time.Sleep(settle)
	return r, ctx.Err()
}

// hostPort is where lan reaches port's forward: the host's LAN address.
func hostPort(port int) netip.AddrPort {
	return netip.AddrPortFrom(netlab.HostLANAddr.Addr(), uint16(port))
}

// await polls check from ns until it answers done and returns the half
// timed from since (CLOCK_MONOTONIC).
func await(ctx context.Context, ns *netlab.NS, since int64, check func() answer) half {
	at, unanswered, err := pollFrom(ctx, ns, trialDeadline, check)
	h := half{err: err, unanswered: unanswered}
	if err == nil {
		h.took = time.Duration(at - since)
	}
	return h
}

// halves gathers one half of a measurement's trials over its repeats.
type halves struct {
	repeats              [][]time.Duration // the successes, by repeat
	failures, unanswered int
}

// nextRepeat starts a repeat: what add gets next counts in it.
func (h *halves) nextRepeat() { h.repeats = append(h.repeats, nil) }

// add counts r in the current repeat, logging a failure.
func (h *halves) add(r half, log io.Writer) {
	h.unanswered += r.unanswered
	if r.err != nil {
		h.failures++
		fmt.Fprintf(log, "     trial failed: %v\n", r.err)
		return
	}
	last := len(h.repeats) - 1
	h.repeats[last] = append(h.repeats[last], r.took)
}

// latency summarizes the trials.
func (h *halves) latency() Latency {
	l := summarize(h.repeats, h.failures)
	l.Unanswered = h.unanswered
	return l
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

//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/wslfwd/wslfwd/lab/labrun"
)

// steps prints a run as numbered steps a person can follow: a tick and the
// time each took, or a cross and the error.
type steps struct {
	ctx   context.Context // when done, a failing step was interrupted
	w     io.Writer
	n     int
	start time.Time
	// shownLogs is set once a failed step printed the programs' logs.
	shownLogs bool
}

func newSteps(ctx context.Context, w io.Writer) *steps {
	return &steps{ctx: ctx, w: w, start: time.Now()}
}

// do runs one step. fn returns an optional detail, printed indented below
// the step's line.
func (s *steps) do(title string, fn func() (string, error)) error {
	s.n++
	t := time.Now()
	detail, err := fn()
	took := roundDur(time.Since(t))
	if err != nil && s.ctx.Err() != nil {
		fmt.Fprintf(s.w, "%2d ✗ %s (interrupted after %v)\n", s.n, title, took)
		return errInterrupted
	}
	if err != nil {
		fmt.Fprintf(s.w, "%2d ✗ %s (%v)\n", s.n, title, took)
		s.detail(err.Error())
		var we *labrun.WaitError
		s.shownLogs = s.shownLogs || errors.As(err, &we)
		// The error is on screen already; the caller only needs to know
		// which step failed.
		return fmt.Errorf("step %d failed: %s", s.n, title)
	}
	fmt.Fprintf(s.w, "%2d ✓ %-58s %8v\n", s.n, title, took)
	s.detail(detail)
	return nil
}

// slow is do for a step that takes a while: it says when it starts, and
// every few seconds that it is still at it.
func (s *steps) slow(title string, fn func() (string, error)) error {
	fmt.Fprintf(s.w, "%2d … %s\n", s.n+1, title)
	stop := make(chan struct{})
	ticked := make(chan struct{})
	go func() {
		defer close(ticked)
		t := time.NewTicker(slowTick)
		defer t.Stop()
		for start := time.Now(); ; {
			select {
			case <-stop:
				return
			case <-t.C:
				fmt.Fprintf(s.w, "       … still at it (%v)\n", roundDur(time.Since(start)))
			}
		}
	}()
	return s.do(title, func() (string, error) {
		defer func() { close(stop); <-ticked }()
		return fn()
	})
}

// slowTick is how often slow says a step is still running.
const slowTick = 5 * time.Second

// detail prints text indented under the current step.
func (s *steps) detail(text string) {
	text = strings.TrimRight(text, "\n")
	if text == "" {
		return
	}
	for _, line := range strings.Split(text, "\n") {
		fmt.Fprintf(s.w, "       %s\n", line)
	}
}

// roundDur keeps durations readable: 1.2s, 35ms, 820µs.
func roundDur(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(100 * time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(time.Millisecond)
	default:
		return d.Round(time.Microsecond)
	}
}

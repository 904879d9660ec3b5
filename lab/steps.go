//go:build linux

package main

import (
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
	w     io.Writer
	n     int
	start time.Time
	// shownLogs is set once a failed step printed the programs' logs.
	shownLogs bool
}

func newSteps(w io.Writer) *steps { return &steps{w: w, start: time.Now()} }

// do runs one step. fn returns an optional detail, printed indented below
// the step's line.
func (s *steps) do(title string, fn func() (string, error)) error {
	s.n++
	t := time.Now()
	detail, err := fn()
	took := time.Since(t)
	if err != nil {
		fmt.Fprintf(s.w, "%2d ✗ %s (%v)\n", s.n, title, roundDur(took))
		s.detail(err.Error())
		var we *labrun.WaitError
		s.shownLogs = s.shownLogs || errors.As(err, &we)
		// The error is on screen already; the caller only needs to know
		// which step failed.
		return fmt.Errorf("step %d failed: %s", s.n, title)
	}
	fmt.Fprintf(s.w, "%2d ✓ %-58s %8v\n", s.n, title, roundDur(took))
	s.detail(detail)
	return nil
}

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

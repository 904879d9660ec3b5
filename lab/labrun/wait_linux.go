//go:build linux

package labrun

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"syscall"
	"time"
)

// pollInterval is how often a wait checks its condition.
const pollInterval = 10 * time.Millisecond

// Wait polls cond until it reports true, the context ends, or DefaultWait
// passes when the context has no deadline. cond's error does not stop the
// wait (the daemon may not be up yet); the last one is reported when the
// wait fails, with the tails of the daemon's and agents' logs.
func (e *Env) Wait(ctx context.Context, what string, cond func(context.Context) (bool, error)) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultWait)
		defer cancel()
	}
	start := time.Now()
	var last error
	for {
		if err := e.daemonDied(); err != nil {
			return &WaitError{What: what, Took: time.Since(start), Err: err, Logs: e.Logs(25)}
		}
		callCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
		ok, err := cond(callCtx)
		cancel()
		if ok {
			return nil
		}
		if err != nil {
			last = err
		}
		t := time.NewTimer(pollInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			err := ctx.Err()
			if last != nil {
				err = fmt.Errorf("%w (last error: %v)", err, last)
			}
			return &WaitError{What: what, Took: time.Since(start), Err: err, Logs: e.Logs(25)}
		case <-t.C:
		}
	}
}

// WaitError is a wait that failed. Its message carries the tails of the
// daemon's and agents' logs, so callers need not print them again.
type WaitError struct {
	What string        // what was waited for
	Took time.Duration // how long
	Err  error         // why it ended: the deadline, or the daemon dying
	Logs string        // the programs' log tails when it failed
}

func (e *WaitError) Error() string {
	return fmt.Sprintf("waited %v for %s: %v\n%s", e.Took.Round(time.Millisecond), e.What, e.Err, e.Logs)
}

func (e *WaitError) Unwrap() error { return e.Err }

// isSignalExit reports whether a process's exit error says it died of a
// signal, which is how processes stopped by the lab end.
func isSignalExit(err error) bool {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return false
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled()
}

// daemonDied returns an error when the daemon exited without StopDaemon:
// no wait can succeed then, so it fails at once.
func (e *Env) daemonDied() error {
	e.mu.Lock()
	p, stopping := e.Daemon, e.daemonStopping
	e.mu.Unlock()
	if p == nil || stopping {
		return nil
	}
	if exited, err := p.Exited(); exited {
		return fmt.Errorf("the daemon exited: %v", err)
	}
	return nil
}

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
			return fmt.Errorf("waiting for %s: %w\n%s", what, err, e.Logs(25))
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
			why := ""
			if last != nil {
				why = fmt.Sprintf(" (last error: %v)", last)
			}
			return fmt.Errorf("waited %v for %s%s: %w\n%s",
				time.Since(start).Round(time.Millisecond), what, why, ctx.Err(), e.Logs(25))
		case <-t.C:
		}
	}
}

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

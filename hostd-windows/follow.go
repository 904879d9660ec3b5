package main

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
)

// follower serves the gRPC API on the host's address on the WSL network for
// as long as that address exists, and moves when it changes. The address
// belongs to the vEthernet (WSL) adapter, which appears only once WSL has
// started and usually gets a new subnet after every Windows reboot: a
// daemon that resolved it once at start would fail at boot, or keep
// listening on an address that is gone. Loopback is served separately
// from the start, so mirrored-mode agents and the CLI never wait.
type follower struct {
	lookup   func() (netip.Addr, error)                  // the WSL adapter's address, or an error while it is absent
	port     uint16                                      // the daemon's port
	serve    func(net.Listener) error                    // serves one listener until it is closed
	onChange func(context.Context, netip.AddrPort) error // called after each new listener; may be nil
	interval time.Duration                               // how often to look
	// recheck is how often onChange is called again for the address
	// served, after it worked: the daemon's firewall rule may have been
	// disabled or deleted by hand since (SetDaemonRule leaves a rule as
	// wanted alone, after one listing). Zero: never.
	recheck time.Duration
	log     *slog.Logger

	mu      sync.Mutex
	cur     netip.AddrPort // where it listens now; zero when it does not
	ruleErr error          // onChange's last failure for cur; nil after a success
}

// maxRuleRetry caps the pause between tries of a failed onChange.
const maxRuleRetry = 5 * time.Minute

// followState is what run carries from one look to the next.
type followState struct {
	l      net.Listener
	absent bool           // logged that the adapter is absent
	failed netip.AddrPort // logged that listening on it fails
	again  time.Time      // when to call onChange again: a failure's retry, or a success's recheck
	delay  time.Duration  // the pause before a failure's retry
}

// run follows the address until ctx ends, then closes its listener.
func (f *follower) run(ctx context.Context) {
	var st followState
	defer func() {
		if st.l != nil {
			st.l.Close()
		}
	}()
	t := time.NewTicker(f.interval)
	defer t.Stop()
	for {
		f.step(ctx, &st)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// step looks up the address once and moves the listener if it changed;
// otherwise it calls onChange again when a failure's pause is over, or
// when a success is recheck old.
func (f *follower) step(ctx context.Context, st *followState) {
	addr, err := f.lookup()
	switch {
	case err != nil && !st.absent:
		f.log.Info("no WSL adapter yet: serving loopback only until it appears", "why", err)
		st.absent = true
	case err == nil:
		st.absent = false
	}
	want := netip.AddrPortFrom(addr, f.port)
	if want == f.current() {
		if want.IsValid() && (f.ruleFailed() || f.recheck > 0) && !time.Now().Before(st.again) {
			f.point(ctx, st, want)
		}
		return
	}
	if st.l != nil {
		f.log.Info("WSL adapter address gone: stopped listening", "addr", f.current())
		st.l.Close()
		st.l = nil
		f.set(netip.AddrPort{})
		f.setRuleErr(nil) // a rule for an address not served is no problem
	}
	if err != nil {
		return
	}
	nl, err := net.Listen("tcp", want.String())
	if err != nil {
		if st.failed != want {
			f.log.Warn("cannot listen on the WSL adapter's address; retrying every interval", "addr", want, "err", err)
			st.failed = want
		}
		return
	}
	st.l, st.failed, st.delay = nl, netip.AddrPort{}, 0
	f.set(want)
	go f.serve(nl) // returns when nl is closed
	f.log.Info("listening on the WSL adapter's address", "addr", want)
	f.point(ctx, st, want)
}

// point calls onChange for the address served now. A failure (the
// daemon's firewall rule not made: agents in NAT mode may not reach the
// daemon) is kept for problems and tried again with capped backoff, not
// only when the address changes; a success is checked again after
// recheck.
func (f *follower) point(ctx context.Context, st *followState, ap netip.AddrPort) {
	if f.onChange == nil {
		return
	}
	err := f.onChange(ctx, ap)
	f.setRuleErr(err)
	if err == nil {
		st.delay, st.again = 0, time.Now().Add(f.recheck)
		return
	}
	st.delay = min(max(2*st.delay, f.interval), maxRuleRetry)
	st.again = time.Now().Add(st.delay)
	f.log.Warn(err.Error(), "retry_in", st.delay)
}

func (f *follower) setRuleErr(err error) {
	f.mu.Lock()
	f.ruleErr = err
	f.mu.Unlock()
}

func (f *follower) ruleFailed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ruleErr != nil
}

// problems reports a failed onChange for GetStatus; none for a nil
// follower.
func (f *follower) problems() []*wslfwdv1.Problem {
	if f == nil {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ruleErr == nil {
		return nil
	}
	return []*wslfwdv1.Problem{{
		Code:    "daemon-firewall-rule-failed",
		Message: f.ruleErr.Error(),
		Hint:    "the daemon must run elevated (as the service does); it retries by itself",
	}}
}

func (f *follower) set(a netip.AddrPort) {
	f.mu.Lock()
	f.cur = a
	f.mu.Unlock()
}

func (f *follower) current() netip.AddrPort {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cur
}

// listenAddrs returns a func reporting where the follower listens now,
// for GetStatus; nil for a nil follower (nothing followed).
func (f *follower) listenAddrs() func() []netip.AddrPort {
	if f == nil {
		return nil
	}
	return func() []netip.AddrPort {
		if a := f.current(); a.IsValid() {
			return []netip.AddrPort{a}
		}
		return nil
	}
}

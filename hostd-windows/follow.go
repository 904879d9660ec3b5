package main

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"
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
	log      *slog.Logger

	mu  sync.Mutex
	cur netip.AddrPort // where it listens now; zero when it does not
}

// run follows the address until ctx ends, then closes its listener.
func (f *follower) run(ctx context.Context) {
	var l net.Listener
	defer func() {
		if l != nil {
			l.Close()
		}
	}()
	t := time.NewTicker(f.interval)
	defer t.Stop()
	absent := false           // logged that the adapter is absent
	var failed netip.AddrPort // logged that listening on it fails
	for {
		addr, err := f.lookup()
		switch {
		case err != nil && !absent:
			f.log.Info("no WSL adapter yet: serving loopback only until it appears", "why", err)
			absent = true
		case err == nil:
			absent = false
		}
		if want := netip.AddrPortFrom(addr, f.port); want != f.current() {
			if l != nil {
				f.log.Info("WSL adapter address gone: stopped listening", "addr", f.current())
				l.Close()
				l = nil
				f.set(netip.AddrPort{})
			}
			if err == nil {
				if nl, err := net.Listen("tcp", want.String()); err != nil {
					if failed != want {
						f.log.Warn("cannot listen on the WSL adapter's address; retrying every interval", "addr", want, "err", err)
						failed = want
					}
				} else {
					l, failed = nl, netip.AddrPort{}
					f.set(want)
					go f.serve(nl) // returns when nl is closed
					f.log.Info("listening on the WSL adapter's address", "addr", want)
					if f.onChange != nil {
						if err := f.onChange(ctx, want); err != nil {
							f.log.Warn(err.Error())
						}
					}
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
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

//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"time"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/lab/labrun"
	"github.com/wslfwd/wslfwd/lab/netlab"
)

// demoPort is where the sample HTTP service listens in wsl, and so the
// host port it is forwarded on.
const demoPort = 8080

// errInterrupted is a run ended by Ctrl-C (or SIGTERM) after it cleaned up.
var errInterrupted = errors.New("interrupted; cleaned up")

// session is what demo and up share: the programs built from the work
// tree, a lab with the daemon in winhost and an agent in wsl, a sample
// service, and the steps that show all of it.
type session struct {
	ctx      context.Context
	out      io.Writer
	s        *steps
	dir      string // logs, tokens, the daemon's state and the programs
	keepLogs bool
	env      *labrun.Env
	// svc is the sample HTTP service in wsl, once started.
	svc *netlab.Proc
}

// runSession builds the lab, runs body in it and tears it all down, also
// on failure or Ctrl-C. passed is said when everything worked.
func runSession(ctx context.Context, out io.Writer, keepLogs bool, passed func(*session) string, body func(*session) error) (err error) {
	if os.Geteuid() != 0 {
		return errors.New("the lab needs root: it creates network namespaces (try: sudo go run ./lab ...)")
	}
	dir, err := os.MkdirTemp("", "wslfwd-lab-")
	if err != nil {
		return fmt.Errorf("logs directory: %w", err)
	}
	ss := &session{ctx: ctx, out: out, s: newSteps(ctx, out), dir: dir, keepLogs: keepLogs}
	fmt.Fprintf(out, "wslfwd lab: lan (%s) → winhost (%s | %s) → wsl (%s)\n\n",
		netlab.LANAddr.Addr(), netlab.HostLANAddr.Addr(), netlab.HostWSLAddr.Addr(), netlab.WSLAddr.Addr())
	defer func() { err = ss.finish(err, passed) }()
	if err := ss.start(); err != nil {
		return err
	}
	return body(ss)
}

// start builds the programs and starts the lab, its daemon and an agent.
func (ss *session) start() error {
	var bin labrun.Binaries
	if err := ss.s.slow("build wslfwd-hostd, wslfwd-agent, wslfwd (go build)", func() (string, error) {
		var err error
		bin, err = labrun.Build(ss.ctx, ss.dir)
		return "", err
	}); err != nil {
		return err
	}
	if err := ss.s.do("create the namespaces and start the daemon in winhost", func() (string, error) {
		var err error
		ss.env, err = labrun.Start(ss.ctx, labrun.Options{Dir: ss.dir, Bin: bin})
		if err != nil {
			return "", err
		}
		l := ss.env.Lab
		return fmt.Sprintf("namespaces %s, %s, %s\nwslfwd-hostd run --backend relay --listen %s --listen %s (pid %d)",
			l.LAN.Name, l.WinHost.Name, l.WSL.Name, labrun.DaemonWSL, labrun.DaemonLoopback, ss.env.Daemon.Pid()), nil
	}); err != nil {
		return err
	}
	return ss.s.do("start the agent in wsl (distro Ubuntu, NAT mode)", func() (string, error) {
		p, err := ss.env.StartAgent(ss.ctx, labrun.AgentOptions{Distro: "Ubuntu"})
		if err != nil {
			return "", err
		}
		a, err := ss.env.Agent(ss.ctx, "Ubuntu")
		if err != nil || a == nil {
			return "", fmt.Errorf("agent not listed: %v", err)
		}
		return fmt.Sprintf("wslfwd-agent run --networking-mode nat --distro Ubuntu (pid %d), connected from %s", p.Pid(), a.GetPeerAddress()), nil
	})
}

// startService starts the sample HTTP service in wsl and waits until the
// daemon forwards it.
func (ss *session) startService() error {
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find the lab binary: %w", err)
	}
	listen := netip.AddrPortFrom(netip.IPv4Unspecified(), demoPort)
	if err := ss.s.do(fmt.Sprintf("start an HTTP service in wsl on %s", listen), func() (string, error) {
		wsl := ss.env.Lab.WSL
		ss.svc, err = ss.env.Lab.Start("http-service", wsl.Command(context.Background(), self, "serve-http", "--addr", listen.String()))
		if err != nil {
			return "", err
		}
		local := fmt.Sprintf("http://127.0.0.1:%d/", demoPort)
		err = ss.env.Wait(ss.ctx, "the service to answer inside wsl", func(ctx context.Context) (bool, error) {
			_, err := get(ctx, wsl, local)
			return err == nil, err
		})
		return fmt.Sprintf("pid %d, answering on %s inside wsl", ss.svc.Pid(), local), err
	}); err != nil {
		return err
	}
	return ss.s.do("the daemon forwards it (agent → daemon → relay)", func() (string, error) {
		f, err := ss.env.WaitForward(ss.ctx, demoForward(wslfwdv1.ForwardState_FORWARD_STATE_ACTIVE))
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("tcp %s:%d → %s:%d  (%s, pid %d, backend %s)",
			f.GetListenAddress(), f.GetListenPort(), f.GetConnectAddress(), f.GetConnectPort(),
			f.GetProcessName(), f.GetPid(), f.GetBackend()), nil
	})
}

// demoForward matches the sample service's forward, in state (any when 0).
func demoForward(state wslfwdv1.ForwardState) labrun.Match {
	return labrun.Match{Protocol: wslfwdv1.Protocol_PROTOCOL_TCP, Port: demoPort, State: state}
}

// viaHost is the sample service's address as the LAN sees it.
func viaHost() string { return fmt.Sprintf("http://%s:%d/", netlab.HostLANAddr.Addr(), demoPort) }

// finish shows the logs of a failed run, tears the lab down, checks
// that no namespace is left, and removes the directory unless its logs
// are wanted. A run that failed because of Ctrl-C says it was
// interrupted, and returns errInterrupted.
func (ss *session) finish(err error, passed func(*session) string) error {
	interrupted := err != nil && ss.ctx.Err() != nil
	if ss.env != nil {
		if err != nil && !interrupted && !ss.s.shownLogs {
			fmt.Fprintf(ss.out, "\n%s\n", ss.env.Logs(30))
		}
		// Tearing down goes on whatever the context says.
		ss.s.ctx = context.WithoutCancel(ss.ctx)
		if terr := ss.s.do("tear down: stop every process, delete the namespaces", ss.teardown); terr != nil {
			err, interrupted = errors.Join(err, terr), false
		}
	}
	if ss.keepLogs || (err != nil && !interrupted) {
		fmt.Fprintf(ss.out, "\nlogs kept in %s\n", ss.dir)
	} else if rerr := os.RemoveAll(ss.dir); rerr != nil {
		err, interrupted = errors.Join(err, rerr), false
	}
	switch {
	case interrupted:
		fmt.Fprintf(ss.out, "\n%v\n", errInterrupted)
		return errInterrupted
	case err == nil:
		fmt.Fprintf(ss.out, "\n%s in %v\n", passed(ss), roundDur(time.Since(ss.s.start)))
	}
	return err
}

func (ss *session) teardown() (string, error) {
	if err := ss.env.Close(); err != nil {
		return "", err
	}
	left, err := netlab.List(ss.env.Lab.ID)
	if err != nil {
		return "", err
	}
	if len(left) > 0 {
		return "", fmt.Errorf("namespaces left behind: %v", left)
	}
	return "", nil
}

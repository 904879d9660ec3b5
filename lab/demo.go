//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/lab/labrun"
	"github.com/wslfwd/wslfwd/lab/netlab"
)

// demoPort is where the demo's HTTP service listens in wsl, and so the
// host port it is forwarded on.
const demoPort = 8080

func demoCmd() *cobra.Command {
	var keepLogs bool
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Show a service started in the simulated WSL answering on the simulated LAN",
		Long: `Builds the lab (namespaces lan, winhost, wsl), starts wslfwd-hostd in winhost
with the relay backend and wslfwd-agent in wsl, starts an HTTP service in wsl,
fetches it from lan through the forward the daemon made, prints the forwards
table, stops the service and shows the forward gone. Everything is torn down at
the end, also on failure or Ctrl-C. Exits non-zero if any step fails.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return demo(cmd.Context(), cmd.OutOrStdout(), keepLogs)
		},
	}
	cmd.Flags().BoolVar(&keepLogs, "keep-logs", false, "keep the logs directory even when the demo passes")
	return cmd
}

func demo(ctx context.Context, out io.Writer, keepLogs bool) (err error) {
	if os.Geteuid() != 0 {
		return errors.New("the demo needs root: it creates network namespaces (try: sudo go run ./lab demo)")
	}
	dir, err := os.MkdirTemp("", "wslfwd-lab-")
	if err != nil {
		return fmt.Errorf("logs directory: %w", err)
	}
	defer func() {
		if err != nil || keepLogs {
			fmt.Fprintf(out, "\nlogs kept in %s\n", dir)
			return
		}
		os.RemoveAll(dir)
	}()

	s := newSteps(out)
	fmt.Fprintln(out, "wslfwd lab demo: lan (10.2.3.52) → winhost (10.2.3.1 | 172.28.240.1) → wsl (172.28.240.53)")
	fmt.Fprintln(out)

	var bin labrun.Binaries
	if err := s.do("build wslfwd-hostd, wslfwd-agent, wslfwd", func() (string, error) {
		var err error
		bin, err = labrun.Build(ctx, dir)
		return "", err
	}); err != nil {
		return err
	}

	var env *labrun.Env
	if err := s.do("create the namespaces and start the daemon in winhost", func() (string, error) {
		var err error
		env, err = labrun.Start(ctx, labrun.Options{Dir: dir, Bin: bin})
		if err != nil {
			return "", err
		}
		l := env.Lab
		return fmt.Sprintf("namespaces %s, %s, %s\nwslfwd-hostd run --backend relay --listen %s --listen %s (pid %d)",
			l.LAN.Name, l.WinHost.Name, l.WSL.Name, labrun.DaemonWSL, labrun.DaemonLoopback, env.Daemon.Pid()), nil
	}); err != nil {
		return err
	}
	defer func() {
		terr := s.do("tear down: stop every process, delete the namespaces", func() (string, error) {
			if err := env.Close(); err != nil {
				return "", err
			}
			left, err := netlab.List(env.Lab.ID)
			if err != nil {
				return "", err
			}
			if len(left) > 0 {
				return "", fmt.Errorf("namespaces left behind: %v", left)
			}
			return "", nil
		})
		err = errors.Join(err, terr)
		if err == nil {
			fmt.Fprintf(out, "\ndemo passed in %v\n", roundDur(time.Since(s.start)))
		}
	}()
	// From here on a failure shows the programs' logs before teardown,
	// unless the failed step showed them already.
	defer func() {
		if err != nil && !s.shownLogs {
			fmt.Fprintf(out, "\n%s\n", env.Logs(30))
		}
	}()

	if err := s.do("start the agent in wsl (distro Ubuntu, NAT mode)", func() (string, error) {
		p, err := env.StartAgent(ctx, labrun.AgentOptions{Distro: "Ubuntu"})
		if err != nil {
			return "", err
		}
		a, err := env.Agent(ctx, "Ubuntu")
		if err != nil || a == nil {
			return "", fmt.Errorf("agent not listed: %v", err)
		}
		return fmt.Sprintf("wslfwd-agent run --networking-mode nat --distro Ubuntu (pid %d), connected from %s", p.Pid(), a.GetPeerAddress()), nil
	}); err != nil {
		return err
	}

	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find the lab binary: %w", err)
	}
	listen := netip.AddrPortFrom(netip.IPv4Unspecified(), demoPort)
	var svc *netlab.Proc
	if err := s.do(fmt.Sprintf("start an HTTP service in wsl on %s", listen), func() (string, error) {
		var err error
		svc, err = env.Lab.Start("http-service", env.Lab.WSL.Command(context.Background(), self, "serve-http", "--addr", listen.String()))
		if err != nil {
			return "", err
		}
		local := fmt.Sprintf("http://127.0.0.1:%d/", demoPort)
		err = env.Wait(ctx, "the service to answer inside wsl", func(ctx context.Context) (bool, error) {
			_, err := get(ctx, env.Lab.WSL, local)
			return err == nil, err
		})
		return fmt.Sprintf("pid %d, answering on %s inside wsl", svc.Pid(), local), err
	}); err != nil {
		return err
	}

	tcp := labrun.Match{Protocol: wslfwdv1.Protocol_PROTOCOL_TCP, Port: demoPort}
	active := tcp
	active.State = wslfwdv1.ForwardState_FORWARD_STATE_ACTIVE
	if err := s.do("the daemon forwards it (agent → daemon → relay)", func() (string, error) {
		f, err := env.WaitForward(ctx, active)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("tcp %s:%d → %s:%d  (%s, pid %d, backend %s)",
			f.GetListenAddress(), f.GetListenPort(), f.GetConnectAddress(), f.GetConnectPort(),
			f.GetProcessName(), f.GetPid(), f.GetBackend()), nil
	}); err != nil {
		return err
	}

	viaHost := fmt.Sprintf("http://%s:%d/", netlab.HostLANAddr.Addr(), demoPort)
	if err := s.do("GET "+viaHost+" from lan", func() (string, error) {
		return get(ctx, env.Lab.LAN, viaHost)
	}); err != nil {
		return err
	}

	if err := s.do("wslfwd forwards (the CLI, run in winhost)", func() (string, error) {
		return env.CLI(ctx, "forwards")
	}); err != nil {
		return err
	}

	if err := s.do("stop the HTTP service (SIGTERM)", func() (string, error) {
		if err := svc.Stop(5 * time.Second); err != nil {
			return "", err
		}
		return "", nil
	}); err != nil {
		return err
	}

	if err := s.do("the forward is gone", func() (string, error) {
		return "", env.WaitNoForward(ctx, tcp)
	}); err != nil {
		return err
	}

	return s.do("GET "+viaHost+" from lan fails now", func() (string, error) {
		body, err := get(ctx, env.Lab.LAN, viaHost)
		if err == nil {
			return "", fmt.Errorf("still answering: %s", body)
		}
		return err.Error(), nil
	})
}

// get fetches url with a connection opened inside ns and returns the
// status and body.
func get(ctx context.Context, ns *netlab.NS, url string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := ns.HTTPClient().Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if err != nil {
		return "", fmt.Errorf("read body: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s: %s", resp.Status, body)
	}
	return fmt.Sprintf("%s: %s", resp.Status, strings.TrimSpace(string(body))), nil
}

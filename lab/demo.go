//go:build linux

package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/wslfwd/wslfwd/lab/netlab"
)

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
			return runSession(cmd.Context(), cmd.OutOrStdout(), keepLogs,
				func(*session) string { return "demo passed" }, demo)
		},
	}
	cmd.Flags().BoolVar(&keepLogs, "keep-logs", false, "keep the logs directory even when the demo passes")
	return cmd
}

// demo runs in a started session: a service in wsl is reached from lan,
// then stopped, and its forward goes.
func demo(ss *session) error {
	for _, step := range []func(*session) error{
		(*session).startService, fetchFromLAN, showForwards, stopService, forwardGone, fetchFails,
	} {
		if err := step(ss); err != nil {
			return err
		}
	}
	return nil
}

func fetchFromLAN(ss *session) error {
	return ss.s.do("GET "+viaHost()+" from lan", func() (string, error) {
		return get(ss.ctx, ss.env.Lab.LAN, viaHost())
	})
}

func showForwards(ss *session) error {
	return ss.s.do("wslfwd forwards (the CLI, run in winhost)", func() (string, error) {
		return ss.env.CLI(ss.ctx, "forwards")
	})
}

func stopService(ss *session) error {
	return ss.s.do("stop the HTTP service (SIGTERM)", func() (string, error) {
		return "", ss.svc.Stop(5 * time.Second)
	})
}

func forwardGone(ss *session) error {
	return ss.s.do("the forward is gone", func() (string, error) {
		return "", ss.env.WaitNoForward(ss.ctx, demoForward(0))
	})
}

func fetchFails(ss *session) error {
	return ss.s.do("GET "+viaHost()+" from lan fails now", func() (string, error) {
		body, err := get(ss.ctx, ss.env.Lab.LAN, viaHost())
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

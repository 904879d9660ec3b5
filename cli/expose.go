package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/wslfwd/wslfwd/cli/output"
	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/internal/controlclient"
)

func newExposeCmd(a *app) *cobra.Command {
	var (
		distro     string
		hostPort   string
		listenAddr string
	)
	cmd := &cobra.Command{
		Use:   "expose <port>[/tcp|/udp]",
		Short: "Pin a static forward to a port in a distro",
		Long: `Pin a static forward from the host to a port in a distro, whether or not
anything listens there yet. Static forwards survive daemon restarts; remove
one with 'wslfwd unexpose <host port>'. Needs the admin token.

The port is the port in the distro; the host port is the same unless
--host-port is given. --distro may be left out when exactly one agent is
known. --listen-address picks the host address (default: the daemon's
expose address): one the host has, or 0.0.0.0 or :: for all. The daemon
refuses, and saves nothing for, an address the host lacks, a broadcast or
multicast address, its own port and ports in its deny list. A port already
forwarded for its listener keeps its forward, now pinned: 'wslfwd forwards'
lists it once, as static.`,
		Example: `  wslfwd expose 8080
  wslfwd expose 53/udp --host-port 5353
  wslfwd expose 22 --distro Ubuntu --host-port 2222 --listen-address 192.168.1.2`,
		Args:              args(cobra.ExactArgs(1)),
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE: func(cmd *cobra.Command, argv []string) error {
			spec, err := parsePortSpec(argv[0])
			if err != nil {
				return usageError{err}
			}
			hp, err := portFlag(cmd, "host-port", hostPort)
			if err != nil {
				return err
			}
			listen, err := parseListenAddress(listenAddr)
			if err != nil {
				return usageError{err}
			}
			req := &wslfwdv1.ExposeRequest{
				Protocol:      spec.proto,
				Port:          uint32(spec.port),
				Distro:        distro,
				HostPort:      uint32(hp),
				ListenAddress: listen,
			}
			return call(cmd.Context(), a, fmt.Sprintf("expose %s", spec),
				func(ctx context.Context, c *controlclient.Conn) (*wslfwdv1.ExposeResponse, error) {
					return c.Expose(ctx, req)
				},
				func(resp *wslfwdv1.ExposeResponse) { output.Changed(a.stdout, "Exposed", resp.GetForward()) })
		},
	}
	f := cmd.Flags()
	f.StringVar(&distro, "distro", "", "distro to forward to (default: the only agent)")
	f.StringVar(&hostPort, "host-port", "", "host port to listen on, 1 to 65535 (default: the same port)")
	f.StringVar(&listenAddr, "listen-address", "", "host address (default: the expose address)")
	_ = cmd.RegisterFlagCompletionFunc("distro", a.completeDistros)
	return cmd
}

func newUnexposeCmd(a *app) *cobra.Command {
	var listenAddr string
	cmd := &cobra.Command{
		Use:   "unexpose <host port>[/tcp|/udp]",
		Short: "Remove a static forward made by expose",
		Long: `Remove a static forward made by 'wslfwd expose'. Name it by its host port
(the --host-port given to expose, else the distro port) and, if one was
given, its --listen-address. Forwards the daemon made for listeners are not
affected. Needs the admin token.`,
		Example: `  wslfwd unexpose 8080
  wslfwd unexpose 5353/udp
  wslfwd unexpose 2222 --listen-address 192.168.1.2`,
		Args:              args(cobra.ExactArgs(1)),
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE: func(cmd *cobra.Command, argv []string) error {
			spec, err := parsePortSpec(argv[0])
			if err != nil {
				return usageError{err}
			}
			listen, err := parseListenAddress(listenAddr)
			if err != nil {
				return usageError{err}
			}
			req := &wslfwdv1.UnexposeRequest{
				Protocol:      spec.proto,
				HostPort:      uint32(spec.port),
				ListenAddress: listen,
			}
			return call(cmd.Context(), a, fmt.Sprintf("unexpose %s", spec),
				func(ctx context.Context, c *controlclient.Conn) (*wslfwdv1.UnexposeResponse, error) {
					return c.Unexpose(ctx, req)
				},
				func(resp *wslfwdv1.UnexposeResponse) { output.Changed(a.stdout, "Removed", resp.GetForward()) })
		},
	}
	cmd.Flags().StringVar(&listenAddr, "listen-address", "", "its host address (default: the expose address)")
	return cmd
}

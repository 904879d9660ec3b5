package main

import (
	"context"
	"errors"
	"io"

	"github.com/spf13/cobra"

	"github.com/wslfwd/wslfwd/cli/output"
	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/internal/controlclient"
)

func newWatchCmd(a *app) *cobra.Command {
	var initial bool
	cmd := &cobra.Command{
		Use:   "watch",
		Short: "Stream agent and forward events until interrupted",
		Long: `Print one line per event as it happens (agents connecting and leaving,
forwards added, removed, failing or changing state) until Ctrl-C. With
-o json, each event is one JSON document on its own line. Ending with
Ctrl-C exits 0; losing the daemon exits 1.`,
		Example: `  wslfwd watch
  wslfwd watch --initial
  wslfwd watch -o json | jq -c .forward`,
		Args:              args(cobra.NoArgs),
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withConn(func(c *controlclient.Conn) error {
				return a.watch(cmd.Context(), c, initial)
			})
		},
	}
	cmd.Flags().BoolVar(&initial, "initial", false, "first print the current agents and forwards as events")
	return cmd
}

// watch prints events until ctx ends (a clean exit) or the stream breaks.
func (a *app) watch(ctx context.Context, c *controlclient.Conn, initial bool) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.Watch(ctx, &wslfwdv1.WatchRequest{Initial: initial})
	if err != nil {
		return c.Explain("watch", err)
	}
	for {
		ev, err := stream.Recv()
		if err != nil {
			if ctx.Err() != nil {
				return nil // interrupted: the normal way to stop
			}
			if errors.Is(err, io.EOF) {
				return errors.New("watch: the daemon ended the stream")
			}
			return c.Explain("watch", err)
		}
		if a.format == output.JSON {
			if err := output.WriteJSONLine(a.stdout, ev); err != nil {
				return err
			}
			continue
		}
		output.Event(a.stdout, ev, a.loc)
	}
}

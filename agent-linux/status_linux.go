//go:build linux

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/wslfwd/wslfwd/agent-linux/localstatus"
	"github.com/wslfwd/wslfwd/agent-linux/session"
	"github.com/wslfwd/wslfwd/internal/safetext"
)

// serveStatus serves the agent's status on --status-socket until ctx
// ends, in the background (done when the socket is removed). A socket it
// cannot serve (another live agent's, a directory others may enter) is
// logged and the agent runs on without one: the status is an aid, and
// forwarding must not stop for it.
func (a *agent) serveStatus(ctx context.Context, path string, sess *session.Session, addr, why string, log *slog.Logger) (done <-chan struct{}) {
	ch := make(chan struct{})
	if path == "" {
		close(ch)
		return ch
	}
	srv, err := localstatus.Listen(path, log)
	if err != nil {
		log.Warn("serving no status: `wslfwd-agent status` will not reach this agent", "err", err)
		close(ch)
		return ch
	}
	go func() {
		defer close(ch)
		srv.Serve(ctx, func(ctx context.Context) localstatus.Document {
			// The state first: the report's request then carries all of it
			// (and whatever changed since), so what it shows was sent, and
			// acted on if the daemon answered in time.
			st, _ := a.tr.Current()
			rep := sess.Report(ctx)
			return localstatus.Build(localstatus.Input{Hello: a.hello, Addr: addr, Why: why, State: st, Report: rep})
		})
	}()
	return ch
}

func status(cmd *cobra.Command, o *options) error {
	if o.output != "table" && o.output != "json" {
		return fmt.Errorf("-o %q: want table or json", o.output)
	}
	doc, err := localstatus.Fetch(cmd.Context(), o.statusSocket)
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	if o.output == "json" {
		b, err := json.MarshalIndent(doc, "", "  ")
		if err != nil {
			return fmt.Errorf("encode: %w", err)
		}
		_, err = fmt.Fprintf(out, "%s\n", b)
		return err
	}
	return printStatus(out, doc, time.Now())
}

// printStatus prints the agent's state, then its listeners as the CLI's
// tables do (PROTO, LISTEN, PORT, PROCESS, STATE) with where each is
// exposed or why not.
//
// It writes through safetext.NewWriter: the document quotes the daemon,
// whose place any holder of the agent token may take.
func printStatus(w io.Writer, doc localstatus.Document, now time.Time) error {
	tw := tabwriter.NewWriter(safetext.NewWriter(w), 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "distro\t%s (%s; tcp %s, udp %s)\n", orDash(doc.Distro), orDash(doc.NetworkingMode),
		orDash(doc.Detection.TCP), orDash(doc.Detection.UDP))
	fmt.Fprintf(tw, "agent\t%s\n", doc.AgentVersion)
	fmt.Fprintf(tw, "daemon\t%s (%s)\n", doc.Daemon.Address, doc.Daemon.Why)
	fmt.Fprintf(tw, "\t%s\n", linkLine(doc.Daemon, now))
	if len(doc.Listeners) == 0 {
		fmt.Fprintln(tw, "\nNo listeners.")
		return tw.Flush()
	}
	fmt.Fprintln(tw, "\nPROTO\tLISTEN\tPORT\tPROCESS\tSTATE\tEXPOSED-AT/REASON")
	for _, l := range doc.Listeners {
		listen := l.Listen
		if l.V6Only {
			listen += " (v6only)"
		}
		proc := orDash(l.Process)
		if l.PID != 0 {
			proc += " (" + strconv.Itoa(int(l.PID)) + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", l.Protocol, listen, l.Port, proc, l.State, outcome(l))
	}
	return tw.Flush()
}

// linkLine says whether the agent is connected, since when, and if not,
// why and when it tries again.
func linkLine(d localstatus.Daemon, now time.Time) string {
	ago := func(t time.Time) string { return now.Sub(t).Round(time.Second).String() }
	if d.Connected {
		return fmt.Sprintf("connected for %s (daemon %s)", ago(d.Since), orDash(d.Version))
	}
	if d.LastError == "" {
		return "connecting"
	}
	s := "not connected"
	if !d.Since.IsZero() {
		s += " for " + ago(d.Since)
	}
	s += ": " + d.LastError
	if !d.RetryAt.IsZero() {
		s += "; next try in " + max(d.RetryAt.Sub(now), 0).Round(100*time.Millisecond).String()
	}
	return s
}

// outcome is where a listener is exposed, or why it is not.
func outcome(l localstatus.Listener) string {
	switch {
	case l.AsAsked:
		return "on its own port, as asked"
	case l.ExposedAt != "" && l.Reason != "":
		return l.ExposedAt + ": " + l.Reason
	case l.ExposedAt != "":
		return l.ExposedAt
	}
	return orDash(l.Reason)
}
